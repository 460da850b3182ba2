/**
 * The stage: one tmpfs per node kit, mounted at /run/tern/<pid>-<random>, holding everything a
 * sandbox binds that is not a system folder — the prepared /etc, the shims, the sandbox's init and
 * a copy of each function folder in use.
 *
 * Why a filesystem of its own: a bind mount shows, in /proc/self/mountinfo, the path of its source
 * inside the source's filesystem. Bound from the data folder or the checkout, a function would read
 * those host paths; bound from this tmpfs, it reads "/fn/3f9c…" on a filesystem named tern-stage.
 * And why /run/tern: the sandbox is built by bwrap running as the function's own uid, which must be
 * able to walk to every folder it binds (0711 on the way: it can pass, not list).
 *
 * Function folders are copied at their first start (the data folder is never bound) and dropped
 * when their version is released: the copy costs a few milliseconds for a small function, once
 * per version, and memory the size of the folder (docs/security.md).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Parent of every stage on this host. */
export const STAGE_PARENT = '/run/tern';
/** What the stage's filesystem is called in mountinfo. */
const STAGE_SOURCE = 'tern-stage';
/** The stage may take at most this share of the machine's memory (tmpfs size=). */
const STAGE_SIZE = '25%';
const PASSABLE = 0o711;

export class Stage {
  private readonly staged = new Map<string, Promise<string>>();

  private constructor(readonly root: string) {}

  /** Mount a fresh stage (the node must be root). */
  static async create(): Promise<Stage> {
    await mkdir(STAGE_PARENT, { recursive: true, mode: PASSABLE });
    await chmod(STAGE_PARENT, PASSABLE);
    await sweepStaleStages().catch(() => 0);
    const root = join(STAGE_PARENT, `${process.pid}-${randomBytes(6).toString('hex')}`);
    await mkdir(root, { mode: 0o700 });
    try {
      await run('/bin/mount', ['-t', 'tmpfs', '-o', `mode=0711,nosuid,nodev,size=${STAGE_SIZE}`, STAGE_SOURCE, root]);
    } catch (e) {
      await rmdir(root).catch(() => undefined);
      throw new Error(`cannot mount the sandbox stage at ${root}: ${(e as Error).message.trim()}`, { cause: e });
    }
    const stage = new Stage(root);
    await Promise.all(['fn', 'work'].map((d) => mkdir(join(root, d), { mode: PASSABLE })));
    return stage;
  }

  /** A folder on the stage for the kit's own files (etc, shims), readable by every sandbox. */
  async folder(name: string): Promise<string> {
    const dir = join(this.root, name);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    return dir;
  }

  /** The stage's copy of a function folder (made on first use, shared by every instance). */
  functionCopy(dir: string): Promise<string> {
    let copy = this.staged.get(dir);
    if (!copy) {
      copy = this.copyIn(dir, join(this.root, 'fn', randomBytes(8).toString('hex')));
      this.staged.set(dir, copy);
      // A failed copy is tried again by the next start.
      copy.catch(() => {
        if (this.staged.get(dir) === copy) this.staged.delete(dir);
      });
    }
    return copy;
  }

  /** Drop the copy of a function folder whose version is gone. */
  async forget(dir: string): Promise<void> {
    const copy = this.staged.get(dir);
    if (!copy) return;
    this.staged.delete(dir);
    const path = await copy.catch(() => undefined);
    if (path) await rm(path, { recursive: true, force: true });
  }

  /** A fresh folder for a dependency install (see deps.ts); the caller removes it. */
  async workspace(): Promise<string> {
    const dir = join(this.root, 'work', randomBytes(8).toString('hex'));
    await mkdir(dir, { mode: 0o755 });
    return dir;
  }

  /** Copy `from` (its contents, modes and links as they are) to `to`, a new folder. */
  async copyIn(from: string, to: string): Promise<string> {
    await mkdir(to, { mode: 0o755 });
    try {
      await run('/bin/cp', ['-a', '--', `${from}/.`, to]);
      // The copy's top folder keeps the function folder's mode (0700 from a mkdtemp, say).
      await chmod(to, 0o755);
    } catch (e) {
      await rm(to, { recursive: true, force: true });
      throw new Error(`cannot stage ${from}: ${(e as Error).message.trim()}`, { cause: e });
    }
    return to;
  }

  /** Unmount the stage (lazily: a sandbox that still runs keeps its binds until it ends). */
  async close(): Promise<void> {
    this.staged.clear();
    await unmount(this.root);
  }
}

async function unmount(dir: string): Promise<void> {
  await run('/bin/umount', ['--lazy', dir]).catch(() => undefined);
  await rmdir(dir).catch(() => undefined);
}

/** Unmount the stages of Tern processes that died without cleaning up. */
export async function sweepStaleStages(): Promise<number> {
  let removed = 0;
  for (const name of await readdir(STAGE_PARENT).catch(() => [] as string[])) {
    const owner = /^(\d+)-/.exec(name);
    if (!owner || processAlive(Number(owner[1]))) continue;
    await unmount(join(STAGE_PARENT, name));
    removed++;
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
