/**
 * The embedded tier's durability: each key of the local tier in its own file under <data>/state/,
 * written behind the change (coalesced, a few ms later) by an atomic rename, so a crash leaves the
 * old value or the new one, never half of one. A clean stop, and `push`, wait for the writes.
 *
 * File: "TST1", u32 LE key length, key (utf8), value. Name: sha-256 of the key (keys may hold "/").
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { isValidKey } from './keys.js';

const MAGIC = Buffer.from('TST1');
const FILE_SUFFIX = '.val';
const TEMP_MARK = '.tmp-';
/** Delay between a change and its write: bursts of writes to one key cost one file write. */
const WRITE_DELAY_MS = 5;
/** Files written at once during a flush. */
const PARALLEL_WRITES = 8;

export function fileNameFor(key: string): string {
  return `${createHash('sha256').update(key).digest('hex').slice(0, 40)}${FILE_SUFFIX}`;
}

export interface StoredValue {
  key: string;
  value: Buffer;
}

export class StateFiles {
  private readonly dirty = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private readonly failedKeys = new Set<string>();

  constructor(
    readonly dir: string,
    /** The current value of a key (undefined: deleted). */
    private readonly current: (key: string) => Buffer | undefined,
    private readonly logger: Logger,
  ) {}

  /** Every stored value (stray temp files of an interrupted write are removed). */
  async load(maxValueBytes: number): Promise<StoredValue[]> {
    await mkdir(this.dir, { recursive: true });
    const out: StoredValue[] = [];
    for (const name of await readdir(this.dir)) {
      const path = join(this.dir, name);
      if (name.includes(TEMP_MARK)) {
        await rm(path, { force: true });
        continue;
      }
      if (!name.endsWith(FILE_SUFFIX)) continue;
      try {
        const bytes = await readFile(path);
        const stored = decode(bytes);
        if (!stored || fileNameFor(stored.key) !== name) throw new Error('not a state file');
        if (stored.value.length > maxValueBytes)
          throw new Error(`value of ${stored.value.length} bytes is over the limit`);
        out.push(stored);
      } catch (e) {
        this.logger.warn({ event: 'state_load', file: path, err: (e as Error).message }, `state file ${path} skipped`);
      }
    }
    return out;
  }

  /** A key changed: write it soon. */
  changed(key: string): void {
    this.dirty.add(key);
    if (this.timer === undefined && this.flushing === undefined) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, WRITE_DELAY_MS);
    }
  }

  /** Write every pending change; resolves when they are on disk. */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    // One flush at a time keeps the writes of one key in order.
    const run = (this.flushing ?? Promise.resolve()).then(() => this.writeDirty());
    const tracked = run.finally(() => {
      if (this.flushing === tracked) this.flushing = undefined;
      if (this.dirty.size > 0 && this.flushing === undefined && this.timer === undefined)
        this.changed([...this.dirty][0]!);
    });
    this.flushing = tracked;
    return tracked;
  }

  private async writeDirty(): Promise<void> {
    while (this.dirty.size > 0) {
      const keys = [...this.dirty];
      this.dirty.clear();
      for (let i = 0; i < keys.length; i += PARALLEL_WRITES) {
        await Promise.all(keys.slice(i, i + PARALLEL_WRITES).map((k) => this.store(k)));
      }
    }
  }

  private async store(key: string): Promise<void> {
    const path = join(this.dir, fileNameFor(key));
    const value = this.current(key);
    try {
      if (value === undefined)
        await unlink(path).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
      else await writeAtomic(path, encode(key, value));
      if (this.failedKeys.delete(key)) this.logger.info({ event: 'state_persist', key }, `state "${key}" stored again`);
    } catch (e) {
      // Logged once per key until it works again: a full disk must not flood the log.
      if (!this.failedKeys.has(key)) {
        this.failedKeys.add(key);
        this.logger.error({ event: 'state_persist', key, err: (e as Error).message }, `cannot store state "${key}"`);
      }
    }
  }
}

function encode(key: string, value: Buffer): Buffer {
  const k = Buffer.from(key, 'utf8');
  const head = Buffer.alloc(8);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(k.length, 4);
  return Buffer.concat([head, k, value]);
}

function decode(bytes: Buffer): StoredValue | undefined {
  if (bytes.length < 8 || !bytes.subarray(0, 4).equals(MAGIC)) return undefined;
  const keyLength = bytes.readUInt32LE(4);
  if (8 + keyLength > bytes.length) return undefined;
  const key = bytes.subarray(8, 8 + keyLength).toString('utf8');
  if (!isValidKey(key)) return undefined;
  return { key, value: Buffer.from(bytes.subarray(8 + keyLength)) };
}

/** Temp file in the same folder, fsync, rename over: readers see the old file or the new one. */
async function writeAtomic(path: string, bytes: Buffer): Promise<void> {
  const temp = `${path}${TEMP_MARK}${randomBytes(4).toString('hex')}`;
  const handle = await open(temp, 'w', 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (e) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw e;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}
