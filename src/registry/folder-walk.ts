/**
 * Lists a function folder on disk for packing (`tern deploy DIR`) or copying (`--registry DIR`):
 * regular files and folders only, symbolic links followed when they stay inside the folder,
 * tool caches and VCS folders skipped.
 */
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { TernError } from '../core/errors.js';

export interface FolderEntry {
  /** "/"-separated path inside the folder. */
  rel: string;
  /** Absolute path to read it from (may pass through a symbolic link inside the folder). */
  path: string;
  kind: 'file' | 'dir';
  mode: number;
}

/** Never part of a deployed function: version control and package-manager caches. */
export function isSkipped(rel: string): boolean {
  const parts = rel.split('/');
  return parts.includes('.git') || parts.some((p, i) => p === '.cache' && parts[i - 1] === 'node_modules');
}

function folderError(rel: string, reason: string): TernError {
  return new TernError('bad_archive', `${JSON.stringify(rel)}: ${reason}`);
}

function inside(rootReal: string, target: string): boolean {
  return target === rootReal || target.startsWith(rootReal + sep);
}

/**
 * Every entry under `root`, parents before children, names in byte order.
 * `maxEntries` stops a runaway walk early (the count the archive limits allow).
 * `within` (default `root`) is the folder links must stay inside: npm links a `file:` dependency
 * in node_modules to a folder beside node_modules, inside the function folder.
 */
export async function walkFolder(
  root: string,
  maxEntries = Number.POSITIVE_INFINITY,
  within = root,
): Promise<FolderEntry[]> {
  const rootReal = await realpath(within);
  const out: FolderEntry[] = [];

  const visit = async (dirPath: string, dirRel: string, ancestors: string[]): Promise<void> => {
    const names = (await readdir(dirPath)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      const rel = dirRel ? `${dirRel}/${name}` : name;
      if (isSkipped(rel)) continue;
      const path = join(dirPath, name);
      let info = await lstat(path);
      if (info.isSymbolicLink()) {
        const target = await realpath(path).catch(() => undefined);
        if (target === undefined) throw folderError(rel, 'symbolic link to nothing');
        if (!inside(rootReal, target)) throw folderError(rel, 'symbolic link points outside the folder');
        info = await stat(path);
        if (info.isDirectory() && ancestors.includes(target))
          throw folderError(rel, 'symbolic link loops back to a parent folder');
      }
      if (!info.isFile() && !info.isDirectory())
        throw folderError(rel, 'not a regular file or folder (device, FIFO or socket)');
      if (out.length >= maxEntries) throw folderError(rel, `more than ${maxEntries} files and folders (the limit)`);
      out.push({ rel, path, kind: info.isDirectory() ? 'dir' : 'file', mode: info.mode & 0o7777 });
      if (info.isDirectory()) await visit(path, rel, [...ancestors, await realpath(path)]);
    }
  };
  await visit(root, '', [rootReal, await realpath(root)]);
  return out;
}
