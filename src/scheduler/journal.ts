/**
 * An append-only JSON-lines journal: one whole record per line, the last line of an id wins.
 * Appends are batched (group commit): one write for everything pending and, when any line of the
 * batch must be durable, one fdatasync for the batch. Compaction writes the live records to a temp
 * file, syncs it and renames it over the journal, so a crash leaves either the old or the new file.
 */
import { mkdir, open, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

interface PendingLine {
  text: string;
  durable: boolean;
  resolve(): void;
  reject(e: Error): void;
}

/** Lines are written in chunks of about this size. */
const CHUNK_BYTES = 1 << 20;

export class Journal {
  private handle: FileHandle | undefined;
  private pending: PendingLine[] = [];
  private flushing: Promise<void> | undefined;
  private compaction: { snapshot: () => Iterable<unknown>; waiters: PendingLine[] } | undefined;
  private closed = false;
  /** Lines in the file, and bytes appended since the last compaction (callers decide when to compact). */
  lineCount = 0;
  bytesSinceCompact = 0;

  private constructor(readonly path: string) {}

  /** The values a previous run left; a torn last line or any malformed line is skipped. */
  static async read(path: string): Promise<unknown[]> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: unknown[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        // A line cut short by a crash: everything before it is intact.
      }
    }
    return out;
  }

  /** Starts a journal holding exactly `records` (compaction on open), ready for appends. */
  static async open(path: string, records: Iterable<unknown>): Promise<Journal> {
    await mkdir(dirname(path), { recursive: true });
    const journal = new Journal(path);
    await journal.rewrite(records);
    return journal;
  }

  /** Appends one record; resolves once written (and on disk, when `durable`). */
  append(record: unknown, durable: boolean): Promise<void> {
    if (this.closed) return Promise.reject(new Error('call journal is closed'));
    const text = `${JSON.stringify(record)}\n`;
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ text, durable, resolve, reject });
      this.kick();
    });
  }

  /** Rewrites the journal as `snapshot()` (taken once everything appended so far is written). */
  compact(snapshot: () => Iterable<unknown>): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: PendingLine = { text: '', durable: true, resolve, reject };
      if (this.compaction) {
        this.compaction.snapshot = snapshot;
        this.compaction.waiters.push(waiter);
      } else {
        this.compaction = { snapshot, waiters: [waiter] };
      }
      this.kick();
    });
  }

  get compacting(): boolean {
    return this.compaction !== undefined;
  }

  /** Writes what is pending, then closes the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.flushing) await this.flushing;
    await this.handle?.close();
    this.handle = undefined;
  }

  private kick(): void {
    if (this.flushing) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
      if (this.pending.length !== 0 || this.compaction) this.kick();
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length !== 0 || this.compaction) {
      if (this.pending.length !== 0) {
        const batch = this.pending;
        this.pending = [];
        try {
          await this.writeBatch(batch);
          for (const l of batch) l.resolve();
        } catch (e) {
          for (const l of batch) l.reject(e as Error);
        }
        continue;
      }
      const { snapshot, waiters } = this.compaction!;
      this.compaction = undefined;
      try {
        await this.rewrite(snapshot());
        for (const w of waiters) w.resolve();
      } catch (e) {
        for (const w of waiters) w.reject(e as Error);
      }
    }
  }

  private async writeBatch(batch: PendingLine[]): Promise<void> {
    const handle = this.handle;
    if (!handle) throw new Error('call journal is closed');
    let durable = false;
    let bytes = 0;
    for (let i = 0; i < batch.length;) {
      let text = '';
      while (i < batch.length && text.length < CHUNK_BYTES) {
        const line = batch[i++]!;
        text += line.text;
        durable ||= line.durable;
      }
      const buf = Buffer.from(text);
      await writeAll(handle, buf);
      bytes += buf.length;
    }
    if (durable) await handle.datasync();
    this.lineCount += batch.length;
    this.bytesSinceCompact += bytes;
  }

  private async rewrite(records: Iterable<unknown>): Promise<void> {
    // Serialise now: the snapshot must not see changes made while the file is written.
    const lines: string[] = [];
    for (const r of records) lines.push(`${JSON.stringify(r)}\n`);
    const tmp = `${this.path}.tmp`;
    try {
      const out = await open(tmp, 'w', 0o600);
      try {
        let chunk = '';
        for (const line of lines) {
          chunk += line;
          if (chunk.length >= CHUNK_BYTES) {
            await writeAll(out, Buffer.from(chunk));
            chunk = '';
          }
        }
        if (chunk !== '') await writeAll(out, Buffer.from(chunk));
        await out.sync();
      } finally {
        await out.close();
      }
      await rename(tmp, this.path);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    await syncDir(dirname(this.path));
    const previous = this.handle;
    this.handle = await open(this.path, 'a', 0o600);
    await previous?.close();
    this.lineCount = lines.length;
    this.bytesSinceCompact = 0;
  }
}

async function writeAll(handle: FileHandle, buf: Buffer): Promise<void> {
  let offset = 0;
  while (offset < buf.length) {
    const { bytesWritten } = await handle.write(buf, offset, buf.length - offset);
    offset += bytesWritten;
  }
}

/** Makes a rename durable; some file systems refuse fsync on a folder, which is fine to ignore. */
async function syncDir(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // best effort
  } finally {
    await handle?.close();
  }
}
