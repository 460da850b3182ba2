/**
 * .tar.gz extraction: our own gunzip (so the decompressed stream is bounded before tar sees it),
 * tar's Parser for the format (pax and GNU long names included), and our own writer, so no
 * entry reaches the disk unless it passed entry-rules.
 */
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { TernError } from '../core/errors.js';
import {
  Budget,
  fileMode,
  Folders,
  isJunk,
  refuse,
  safeRelativePath,
  SYMLINK_REFUSAL,
  writeCounted,
  type ArchiveLimits,
} from './entry-rules.js';

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const DEVICE_TYPES = new Set(['CharacterDevice', 'BlockDevice', 'FIFO']);
/** Room for headers, pax records and padding around each entry's data in the decompressed stream. */
const OVERHEAD_PER_ENTRY = 8192;

export function isGzip(body: Buffer): boolean {
  return body.length >= 2 && body[0] === 0x1f && body[1] === 0x8b;
}

function isCompressedAgain(chunk: Buffer): boolean {
  const zstd = chunk.length >= 4 && chunk.readUInt32LE(0) === 0xfd2fb528;
  return isGzip(chunk) || zstd;
}

/** One failure wins; everything waiting on the extraction hears of it. */
class FailureLatch {
  error: unknown;
  readonly promise: Promise<never>;
  private rejectFn!: (e: unknown) => void;

  constructor() {
    this.promise = new Promise<never>((_, reject) => (this.rejectFn = reject));
    this.promise.catch(() => undefined);
  }

  get failed(): boolean {
    return this.error !== undefined;
  }

  fail(e: unknown): void {
    if (this.failed) return;
    this.error = e;
    this.rejectFn(e);
  }
}

export async function extractTarGz(archive: Buffer, dest: string, limits: ArchiveLimits): Promise<void> {
  if (!isGzip(archive))
    throw new TernError(
      'bad_archive',
      'the archive is not a gzip-compressed tar (it does not start with the gzip magic bytes)',
    );
  const budget = new Budget(limits);
  const folders = new Folders();
  const latch = new FailureLatch();
  const tasks = new Set<Promise<void>>();
  let lastName = '(start of archive)';

  const parser = new Parser({ strict: true });
  parser.on('error', (e: Error) =>
    latch.fail(new TernError('bad_archive', `corrupt tar archive near ${JSON.stringify(lastName)}: ${e.message}`)),
  );
  parser.on('ignoredEntry', (entry: ReadEntry) =>
    latch.fail(refuse(entry.path, `oversized ${entry.type} metadata entry`)),
  );
  parser.on('entry', (entry: ReadEntry) => {
    lastName = entry.path;
    if (latch.failed) {
      entry.resume();
      return;
    }
    const task = handleEntry(entry, dest, budget, folders, latch.promise).catch((e: unknown) => {
      latch.fail(e);
      entry.resume();
    });
    tasks.add(task);
    void task.finally(() => tasks.delete(task));
  });

  const limit = limits.unpackedBytes + (limits.files + 1) * OVERHEAD_PER_ENTRY;
  let total = 0;
  const gunzip = createGunzip();
  gunzip.end(archive);
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      if (latch.failed) break;
      if (total === 0 && isCompressedAgain(chunk))
        throw new TernError('bad_archive', 'the archive is compressed twice: expected a tar inside one gzip layer');
      total += chunk.length;
      if (total > limit) throw refuse(lastName, `the archive unpacks to more than ${limit} bytes of tar data`);
      if (!parser.write(chunk)) await Promise.race([once(parser, 'drain'), latch.promise]);
    }
  } catch (e) {
    latch.fail(e instanceof TernError ? e : new TernError('bad_archive', `corrupt gzip data: ${(e as Error).message}`));
  } finally {
    gunzip.destroy();
  }
  if (!latch.failed) {
    const ended = once(parser, 'end');
    parser.end();
    await Promise.race([ended, latch.promise]).catch(() => undefined);
  }
  await Promise.allSettled([...tasks]);
  if (latch.failed) throw latch.error;
}

/** `abort` rejects when the extraction fails: the entry's remaining data will then never come. */
async function handleEntry(
  entry: ReadEntry,
  dest: string,
  budget: Budget,
  folders: Folders,
  abort: Promise<never>,
): Promise<void> {
  const name = entry.path;
  if (entry.type === 'SymbolicLink') throw refuse(name, SYMLINK_REFUSAL);
  if (entry.type === 'Link') throw refuse(name, 'hard links are not allowed');
  if (DEVICE_TYPES.has(entry.type)) throw refuse(name, 'device and FIFO entries are not allowed');
  const isDir = entry.type === 'Directory';
  if (!isDir && !FILE_TYPES.has(entry.type)) throw refuse(name, `unsupported tar entry type ${entry.type}`);

  const rel = safeRelativePath(name);
  if (rel === undefined || isJunk(rel)) {
    entry.resume();
    return;
  }
  budget.entry(name);
  const target = join(dest, rel);
  if (isDir) {
    entry.resume();
    await folders.ensure(target, name);
    return;
  }
  await folders.ensure(dirname(target), name);
  await writeCounted(target, entry, fileMode(entry.mode), budget, name, abort);
}
