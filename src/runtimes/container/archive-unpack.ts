/**
 * An image archive (oci-archive or docker-archive, as skopeo, buildah and `docker save` write
 * them; plain or gzip tar) unpacked into a fresh folder, under the deploy-archive rules: safe
 * relative paths, bounded entries and bytes. Links inside the archive (older `docker save` links
 * duplicate layers) become hard links to files inside it; anything else is refused.
 */
import { createReadStream } from 'node:fs';
import { link, lstat, open, stat } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { type Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { ReadEntry } from 'tar';
import {
  Budget,
  fileMode,
  Folders,
  safeRelativePath,
  writeCounted,
  type ArchiveLimits,
} from '../../registry/entry-rules.js';
import { badImage } from './digest.js';
import { skipEntry, walkTar } from './tar-walk.js';

/** Room for tar headers and padding per entry. */
const OVERHEAD_PER_ENTRY = 8192;

interface PendingLink {
  rel: string;
  /** Archive-relative path of the file it stands for. */
  source: string;
}

async function isGzipFile(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    await fh.read(head, 0, 2, 0);
    return head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

function linkSource(entry: ReadEntry, rel: string): string {
  const to = entry.linkpath ?? '';
  const joined = entry.type === 'SymbolicLink' && !to.startsWith('/') ? posix.join(posix.dirname(rel), to) : to;
  const normal = posix.normalize(joined);
  if (to === '' || to.startsWith('/') || normal.startsWith('..'))
    throw badImage(`archive entry ${JSON.stringify(rel)}: a link that leaves the archive`);
  return normal;
}

async function resolveLinks(dest: string, links: PendingLink[]): Promise<void> {
  let left = links;
  while (left.length > 0) {
    const next: PendingLink[] = [];
    for (const l of left) {
      const info = await lstat(join(dest, l.source)).catch(() => undefined);
      if (info?.isFile()) await link(join(dest, l.source), join(dest, l.rel));
      else if (!info && links.some((o) => o.rel === l.source)) next.push(l);
      else
        throw badImage(
          `archive entry ${JSON.stringify(l.rel)}: a link to ${JSON.stringify(l.source)}, which is not a file in the archive`,
        );
    }
    if (next.length === left.length) throw badImage('archive: links that only point at each other');
    left = next;
  }
}

export async function unpackImageArchive(path: string, dest: string, limits: ArchiveLimits): Promise<void> {
  const size = (await stat(path)).size;
  if (size > limits.archiveBytes)
    throw badImage(`the archive is ${size} bytes, over the limit of ${limits.archiveBytes}`);
  const budget = new Budget(limits);
  const folders = new Folders();
  const links: PendingLink[] = [];
  await folders.ensure(dest, '.');
  const handle = async (entry: ReadEntry, abort: Promise<never>) => {
    const rel = safeRelativePath(entry.path);
    if (rel === undefined) return skipEntry(entry);
    budget.entry(entry.path);
    const target = join(dest, rel);
    if (entry.type === 'Directory') {
      skipEntry(entry);
      return folders.ensure(target, entry.path);
    }
    await folders.ensure(dirname(target), entry.path);
    if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
      skipEntry(entry);
      links.push({ rel, source: linkSource(entry, rel) });
      return;
    }
    if (entry.type !== 'File' && entry.type !== 'OldFile' && entry.type !== 'ContiguousFile')
      throw badImage(`archive entry ${JSON.stringify(rel)}: ${entry.type} entries are not allowed`);
    await writeCounted(target, entry, fileMode(entry.mode), budget, entry.path, abort);
  };
  const file = createReadStream(path);
  const source: Readable = (await isGzipFile(path)) ? file.pipe(createGunzip()) : file;
  file.on('error', (e) => source.destroy(e));
  try {
    await walkTar(source as AsyncIterable<Buffer>, handle, {
      maxTarBytes: limits.unpackedBytes + (limits.files + 1) * OVERHEAD_PER_ENTRY,
      what: 'archive',
    });
  } catch (e) {
    throw (e as { code?: string }).code?.startsWith('Z_') ? badImage('archive: corrupt gzip data') : e;
  } finally {
    source.destroy();
    file.destroy();
  }
  await resolveLinks(dest, links);
}
