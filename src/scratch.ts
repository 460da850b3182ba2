/**
 * A node's scratch folder: `<tmpdir>/tern-XXXXXX`, private (0700, unguessable name), holding what
 * runtimes write per node (process sandbox kits, micro-VM work folders, compat staging).
 *
 * A node killed with -9 cannot remove it, so each folder carries an owner marker naming the node's
 * data folder and its process (pid, the process's start time and the machine's boot id: a pid
 * reused by another process, or a pid from before a reboot, does not look alive). At start a node
 * removes the folders whose marker names its own data folder and whose owner is gone; a folder of
 * a node with another data folder, a live owner, no marker, or another user is never touched.
 */
import { readFileSync, rmSync } from 'node:fs';
import { lstat, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SCRATCH_PREFIX = 'tern-';
export const OWNER_FILE = '.tern-scratch-owner.json';

export interface ScratchOwner {
  /** The owning node's data folder (real path). */
  data: string;
  pid: number;
  /** Start time of `pid` in clock ticks since boot (/proc/<pid>/stat field 22); absent off Linux. */
  started?: string;
  /** /proc/sys/kernel/random/boot_id; absent off Linux. */
  boot?: string;
}

export interface Scratch {
  readonly dir: string;
  /** Stale folders of this data folder removed on the way. */
  readonly swept: string[];
  /** Remove the folder (the node stopped). */
  remove(): Promise<void>;
  /** Remove it now, and again when the process exits: for a failed start, whose runtimes may still write into it. */
  abandon(): Promise<void>;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Field 22 of /proc/<pid>/stat, read after the command name (which may hold spaces and parentheses). */
export function processStartTime(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function bootId(): string | undefined {
  return readText('/proc/sys/kernel/random/boot_id');
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** False only when the owner is surely gone; an owner we cannot tell about counts as alive. */
export function ownerAlive(owner: ScratchOwner): boolean {
  const boot = bootId();
  if (owner.boot !== undefined && boot !== undefined && owner.boot !== boot) return false;
  if (!pidExists(owner.pid)) return false;
  if (owner.started === undefined) return true;
  const started = processStartTime(owner.pid);
  return started === undefined || started === owner.started;
}

function parseOwner(text: string): ScratchOwner | undefined {
  try {
    const o = JSON.parse(text) as Partial<ScratchOwner>;
    if (typeof o.data !== 'string' || !Number.isInteger(o.pid) || (o.pid ?? 0) <= 0) return undefined;
    return o as ScratchOwner;
  } catch {
    return undefined;
  }
}

/** The marker of a scratch folder we may remove: a real folder of our user holding a regular marker file. */
async function ownerOf(dir: string): Promise<ScratchOwner | undefined> {
  const uid = process.getuid?.();
  const info = await lstat(dir).catch(() => undefined);
  if (!info?.isDirectory() || (uid !== undefined && info.uid !== uid)) return undefined;
  const marker = join(dir, OWNER_FILE);
  const markerInfo = await lstat(marker).catch(() => undefined);
  if (!markerInfo?.isFile() || markerInfo.size > 4096) return undefined;
  return parseOwner(await readFile(marker, 'utf8').catch(() => ''));
}

/** Remove the scratch folders in `root` left by dead nodes of data folder `data`; returns their paths. */
export async function sweepStaleScratch(data: string, root = tmpdir()): Promise<string[]> {
  const names = await readdir(root).catch(() => [] as string[]);
  const swept: string[] = [];
  for (const name of names) {
    if (!name.startsWith(SCRATCH_PREFIX)) continue;
    const dir = join(root, name);
    const owner = await ownerOf(dir);
    if (owner?.data !== data || ownerAlive(owner)) continue;
    await rm(dir, { recursive: true, force: true });
    swept.push(dir);
  }
  return swept;
}

function currentOwner(data: string): ScratchOwner {
  const started = processStartTime(process.pid);
  const boot = bootId();
  return {
    data,
    pid: process.pid,
    ...(started !== undefined ? { started } : {}),
    ...(boot !== undefined ? { boot } : {}),
  };
}

/** Sweep the stale scratch of `dataDir` (which must exist), then create and mark this node's. */
export async function claimScratch(dataDir: string, root = tmpdir()): Promise<Scratch> {
  const data = await realpath(dataDir);
  const swept = await sweepStaleScratch(data, root);
  const dir = await mkdtemp(join(root, SCRATCH_PREFIX));
  try {
    await writeFile(join(dir, OWNER_FILE), `${JSON.stringify(currentOwner(data))}\n`, { flag: 'wx', mode: 0o600 });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const atExit = () => rmSync(dir, { recursive: true, force: true });
  return {
    dir,
    swept,
    async remove() {
      process.off('exit', atExit);
      await rm(dir, { recursive: true, force: true });
    },
    async abandon() {
      process.off('exit', atExit);
      process.once('exit', atExit);
      // A runtime still starting may write into it meanwhile (ENOTEMPTY): the exit hook finishes the job.
      await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined);
    },
  };
}
