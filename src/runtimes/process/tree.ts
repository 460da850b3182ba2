/** Ownership and modes of a function folder, so the unprivileged sandbox user can read it. */
import { chmod, lchown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Deep installs are bounded too. */
const MAX_ENTRIES = 200_000;

async function walk(dir: string, visit: (path: string, isDir: boolean, mode: number) => Promise<void>): Promise<void> {
  let seen = 0;
  const stack = [dir];
  while (stack.length) {
    const current = stack.pop()!;
    const info = await lstat(current);
    if (info.isSymbolicLink()) {
      await visit(current, false, -1);
      continue;
    }
    await visit(current, info.isDirectory(), info.mode);
    if (!info.isDirectory()) continue;
    for (const name of await readdir(current)) {
      if (++seen > MAX_ENTRIES) throw new Error(`${dir} has more than ${MAX_ENTRIES} entries`);
      stack.push(join(current, name));
    }
  }
}

/** a+rX: everyone may read files and enter folders; executables stay executable for all. */
export function makeReadable(dir: string): Promise<void> {
  return walk(dir, async (path, isDir, mode) => {
    if (mode < 0) return; // symlink: its target's mode counts
    const want = isDir || mode & 0o111 ? mode | 0o555 : mode | 0o444;
    if ((want & 0o7777) !== (mode & 0o7777)) await chmod(path, want & 0o7777);
  });
}

/** Hand a folder tree to uid/gid (symlinks themselves, never their targets). */
export function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  return walk(dir, (path) => lchown(path, uid, gid));
}
