/**
 * The rules every unpacked entry obeys, whatever the archive format: a safe relative path,
 * a bounded count and a bounded number of real bytes, written into a folder we created.
 */
import { mkdir, open } from 'node:fs/promises';
import { TernError } from '../core/errors.js';

export interface ArchiveLimits {
  /** Size of the archive itself (compressed), bytes. */
  archiveBytes: number;
  /** Sum of the unpacked files' real sizes, bytes. */
  unpackedBytes: number;
  /** Entries (files and folders) in the archive. */
  files: number;
}

const MAX_PATH_CHARS = 1024;
const MAX_SEGMENT_BYTES = 255;

/** An entry name as it appears in messages: quoted, control characters escaped, bounded. */
export function shown(name: string): string {
  const quoted = JSON.stringify(name);
  return quoted.length > 200 ? `${quoted.slice(0, 197)}..."` : quoted;
}

/** npm links `file:` dependencies: a folder packed by `tern deploy` holds the files instead. */
export const SYMLINK_REFUSAL =
  'symbolic links are not allowed (`tern deploy DIR` stores the files that links inside the folder point to)';

export function refuse(name: string, reason: string): TernError {
  return new TernError('bad_archive', `archive entry ${shown(name)}: ${reason}`);
}

/**
 * The entry's path relative to the destination, "/"-separated, or undefined for the root itself
 * ("./", "."). Absolute paths, ".." segments and backslashes are refused, never rewritten:
 * an archive that tries them is hostile or broken.
 */
export function safeRelativePath(name: string): string | undefined {
  if (name.includes('\0')) throw refuse(name, 'NUL in the path');
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) throw refuse(name, 'absolute paths are not allowed');
  if (name.includes('\\')) throw refuse(name, 'backslashes are not allowed in paths');
  const segments = name.split('/');
  if (segments.includes('..')) throw refuse(name, '".." path segments are not allowed');
  const parts = segments.filter((s) => s !== '' && s !== '.');
  if (parts.length === 0) return undefined;
  const rel = parts.join('/');
  if (rel.length > MAX_PATH_CHARS) throw refuse(name, `path longer than ${MAX_PATH_CHARS} characters`);
  if (parts.some((p) => Buffer.byteLength(p) > MAX_SEGMENT_BYTES))
    throw refuse(name, `a path segment longer than ${MAX_SEGMENT_BYTES} bytes`);
  return rel;
}

/** Finder's resource-fork folder: never part of a function. */
export function isJunk(rel: string): boolean {
  return rel === '__MACOSX' || rel.startsWith('__MACOSX/');
}

/** Counts entries and real bytes as they arrive; headers' declared sizes are never trusted. */
export class Budget {
  private entries = 0;
  private bytes = 0;

  constructor(private readonly limits: ArchiveLimits) {}

  entry(name: string): void {
    this.entries += 1;
    if (this.entries > this.limits.files)
      throw refuse(name, `more than ${this.limits.files} files and folders (the limit)`);
  }

  add(name: string, n: number): void {
    this.bytes += n;
    if (this.bytes > this.limits.unpackedBytes)
      throw refuse(name, `unpacked size over the limit of ${this.limits.unpackedBytes} bytes`);
  }
}

/** File modes we keep: the owner can always read and write; exec bits survive; no setuid/sticky, no group/other write. */
export function fileMode(mode: number | undefined): number {
  return ((mode ?? 0o644) & 0o755) | 0o600;
}
export const DIR_MODE = 0o755;

/** Creates folders once per extraction (most entries share a parent). */
export class Folders {
  private readonly made = new Set<string>();

  async ensure(path: string, name: string): Promise<void> {
    if (this.made.has(path)) return;
    await mkdir(path, { recursive: true, mode: DIR_MODE }).catch((e: unknown) => {
      throw entryFsError(name, e);
    });
    this.made.add(path);
  }
}

const ENTRY_FS_ERRORS = new Set(['EEXIST', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'EINVAL']);

/** A file system error caused by the entry's shape (duplicate, file where a folder should be) as bad_archive. */
export function entryFsError(name: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined || !ENTRY_FS_ERRORS.has(code)) return e;
  const reason =
    code === 'EEXIST'
      ? 'duplicate entry, or a file where a folder is needed'
      : code === 'ENAMETOOLONG'
        ? 'name too long'
        : 'a file where a folder is needed';
  return refuse(name, reason);
}

/**
 * Write a new file (never an existing one) from a stream of chunks, counting every byte against
 * the budget. `abort` rejecting stops the wait for the next chunk: a source that will never
 * deliver again (its parser stopped) cannot keep the write, and its file handle, open.
 */
export async function writeCounted(
  target: string,
  chunks: AsyncIterable<Buffer | Uint8Array>,
  mode: number,
  budget: Budget,
  name: string,
  abort?: Promise<never>,
): Promise<void> {
  const fh = await open(target, 'wx', mode).catch((e: unknown) => {
    throw entryFsError(name, e);
  });
  const source = chunks[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      const next = abort ? await Promise.race([source.next(), abort]) : await source.next();
      if (next.done) {
        finished = true;
        break;
      }
      const chunk = next.value;
      budget.add(name, chunk.length);
      let offset = 0;
      while (offset < chunk.length) {
        const { bytesWritten } = await fh.write(chunk, offset, chunk.length - offset);
        offset += bytesWritten;
      }
    }
  } finally {
    if (!finished) void source.return?.()?.catch(() => undefined);
    await fh.close();
  }
}
