/**
 * Paths inside an image's root folder, resolved as the container will see them: a symbolic link
 * in a parent folder is followed with "/" meaning the root folder and ".." stopping there, so no
 * layer entry (and no file Tern reads from an image) can reach outside the root.
 */
import { lstat, mkdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { badImage } from './digest.js';

/** As Linux's MAXSYMLINKS. */
const MAX_LINK_HOPS = 40;

async function lstatOrUndefined(path: string) {
  return lstat(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw e;
  });
}

/**
 * The host path of folder `parts` under `root`, every component a real folder inside `root`.
 * Missing folders are created when `create` (mode 0755), else the answer is undefined.
 */
export async function resolveDirInRoot(
  root: string,
  parts: readonly string[],
  create: boolean,
  what: string,
): Promise<string | undefined> {
  const stack: string[] = [];
  const queue = [...parts];
  let hops = 0;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      stack.pop();
      continue;
    }
    const path = join(root, ...stack, part);
    const info = await lstatOrUndefined(path);
    if (info === undefined) {
      if (!create) return undefined;
      await mkdir(path, { mode: 0o755 });
      stack.push(part);
    } else if (info.isSymbolicLink()) {
      if (++hops > MAX_LINK_HOPS) throw badImage(`${what}: too many levels of symbolic links`);
      const target = await readlink(path);
      if (target.startsWith('/')) stack.length = 0;
      queue.unshift(...target.split('/'));
    } else if (info.isDirectory()) {
      stack.push(part);
    } else {
      throw badImage(`${what}: ${JSON.stringify(join(...stack, part))} is a file where a folder is needed`);
    }
  }
  return join(root, ...stack);
}

/** Split a safe relative path ("a/b/c") into its parent's parts and its last name. */
export function splitParent(rel: string): { parent: string[]; name: string } {
  const parts = rel.split('/');
  const name = parts.pop()!;
  return { parent: parts, name };
}
