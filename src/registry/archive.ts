/**
 * Function archives: detect the format of an upload, unpack it safely into a fresh folder,
 * and pack a folder on disk for `tern deploy DIR`.
 *
 * A single top-level folder wrapping everything (what `tar czf fn.tgz myfn/` or Finder's
 * "Compress" makes) is unwrapped, so its contents, function.toml included, sit at the root.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { create as createTar } from 'tar';
import { TernError } from '../core/errors.js';
import { DIR_MODE, type ArchiveLimits } from './entry-rules.js';
import { extractTarGz, isGzip } from './extract-tar.js';
import { extractZip, isZip } from './extract-zip.js';
import { walkFolder } from './folder-walk.js';
import type { ArchiveType } from './registry.js';

export type { ArchiveLimits } from './entry-rules.js';

const GZIP_TYPES = new Set([
  'application/gzip',
  'application/x-gzip',
  'application/x-tar+gzip',
  'application/tar+gzip',
  'application/x-gtar',
]);
const ZIP_TYPES = new Set(['application/zip', 'application/x-zip-compressed']);

/** The archive type of an upload: by its Content-Type when that names one, else by its magic bytes. */
export function detectArchiveType(contentType: string | undefined, body: Buffer): ArchiveType | undefined {
  const mime = contentType?.split(';')[0]?.trim().toLowerCase();
  if (mime !== undefined && GZIP_TYPES.has(mime)) return 'tar.gz';
  if (mime !== undefined && ZIP_TYPES.has(mime)) return 'zip';
  if (isGzip(body)) return 'tar.gz';
  if (isZip(body)) return 'zip';
  return undefined;
}

/**
 * Unpack `archive` into `dest`, which must not exist yet (it is created). Refuses with
 * TernError('too_large') an archive over `limits.archiveBytes`, and with TernError('bad_archive')
 * naming the entry: absolute paths, ".." segments, links of any kind, devices and FIFOs, more
 * entries than `limits.files`, more real unpacked bytes than `limits.unpackedBytes`, corrupt or
 * truncated data, and data that is not of the given type. On failure `dest` is removed again.
 */
export async function extractArchive(
  archive: Buffer,
  type: ArchiveType,
  dest: string,
  limits: ArchiveLimits,
): Promise<void> {
  if (archive.length > limits.archiveBytes) {
    throw new TernError(
      'too_large',
      `the archive is ${archive.length} bytes, over the limit of ${limits.archiveBytes} bytes`,
    );
  }
  await mkdir(dirname(dest), { recursive: true });
  await mkdir(dest, { mode: DIR_MODE });
  try {
    if (type === 'zip') await extractZip(archive, dest, limits);
    else await extractTarGz(archive, dest, limits);
    await unwrapSingleFolder(dest);
  } catch (e) {
    await rm(dest, { recursive: true, force: true });
    throw e;
  }
}

/** If `dir` holds exactly one entry and it is a folder, move that folder's contents up into `dir`. */
async function unwrapSingleFolder(dir: string): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  if (entries.length !== 1 || !entries[0]!.isDirectory()) return;
  // Park the wrapper under a name no child can have, so a child named like the wrapper can move up.
  const parked = join(dir, `.unwrap-${randomBytes(8).toString('hex')}`);
  await rename(join(dir, entries[0]!.name), parked);
  for (const child of await readdir(parked)) await rename(join(parked, child), join(dir, child));
  await rmdir(parked);
}

/** tar records a second path to the same inode as a hard link; the registry refuses links, so store copies. */
class NoHardLinks extends Map<`${number}:${number}`, string> {
  override get(): string | undefined {
    return undefined;
  }
  override set(): this {
    return this;
  }
}

/**
 * The contents of `dir` as a .tar.gz, paths relative to `dir` (function.toml at the root).
 * Skips `.git` and `node_modules/.cache`; symbolic links are stored as the files they point to
 * and must stay inside `dir`; devices, FIFOs and sockets are refused.
 */
export async function packFolder(dir: string): Promise<Buffer> {
  const entries = await walkFolder(dir);
  if (entries.length === 0) throw new TernError('bad_archive', `${dir}: the folder is empty`);
  const pack = createTar(
    { gzip: true, cwd: dir, portable: true, follow: true, noDirRecurse: true, linkCache: new NoHardLinks() },
    // tar reads a leading "@" as "include this archive"; "./" keeps such a name a plain file.
    entries.map((e) => (e.rel.startsWith('@') ? `./${e.rel}` : e.rel)),
  );
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
