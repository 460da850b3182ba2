/**
 * A container's root folder is mounted from inside its user namespace, as an unprivileged host
 * uid: every folder above it must let "others" pass (search, not list). Tern opens the folders it
 * owns (0711: others may pass, never list) and refuses, naming the folder, where another blocks.
 */
import { chmod, mkdir, stat } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';

/** Make `path` (created if missing) reachable by any uid; folders from `owned` down may be opened. */
export async function makeReachable(path: string, owned: string): Promise<void> {
  const target = resolve(path);
  const ownedRoot = resolve(owned);
  await mkdir(target, { recursive: true, mode: 0o711 });
  const chain: string[] = [];
  for (let dir = target; ; dir = dirname(dir)) {
    chain.unshift(dir);
    if (dir === dirname(dir)) break;
  }
  for (const dir of chain) {
    const mode = (await stat(dir)).mode & 0o7777;
    if (mode & 0o001) continue;
    if (dir === ownedRoot || dir.startsWith(ownedRoot + sep)) await chmod(dir, mode | 0o111);
    else
      throw new Error(
        `${dir} does not let other users pass (mode ${mode.toString(8)}): containers run as an unprivileged uid and must reach ${target}; choose a data folder outside it, or chmod o+x ${dir}`,
      );
  }
}
