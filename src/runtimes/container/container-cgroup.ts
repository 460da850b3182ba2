/**
 * The cgroup Tern makes for each container: `tern-containers/<node pid>-<instance>` with the
 * function's memory (no swap) and pids limits. The OCI runtime puts the container in a child of it
 * (`…/c`) and removes that child when the container ends; the limit and its OOM-kill counter stay
 * on Tern's parent, so "out of memory" can still be told after the runtime cleaned up.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { detectCgroups, type CgroupLayout } from '../process/cgroup.js';

const PARENT = 'tern-containers';
/** The OCI runtime's own cgroup, inside Tern's. */
export const CHILD = 'c';

/** Every hierarchy of the host (v1: one per controller; v2: the one tree). */
async function hierarchies(layout: CgroupLayout): Promise<string[]> {
  if (layout.version === 2) return [layout.root];
  const names = await readdir(layout.root).catch(() => [] as string[]);
  return names.map((n) => join(layout.root, n)).filter((dir) => existsSync(join(dir, 'cgroup.procs')));
}

async function enableControllers(dir: string): Promise<void> {
  const file = join(dir, 'cgroup.subtree_control');
  const enabled = (await readFile(file, 'utf8')).split(/\s+/);
  const missing = ['memory', 'pids'].filter((c) => !enabled.includes(c));
  if (missing.length) await writeFile(file, missing.map((c) => `+${c}`).join(' '));
}

/** Folders below `dir`, deepest first, then `dir` itself. */
async function tree(dir: string): Promise<string[]> {
  const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const below = await Promise.all(children.filter((c) => c.isDirectory()).map((c) => tree(join(dir, c.name))));
  return [...below.flat(), dir];
}

async function procs(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map(Number);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/** Kill whatever is left under `dir` and remove its folders, deepest first. */
async function removeTree(dir: string): Promise<boolean> {
  if (!existsSync(dir)) return true;
  for (let attempt = 0; attempt < 50; attempt++) {
    const dirs = await tree(dir);
    for (const d of dirs) (await procs(d)).forEach(killQuietly);
    let left = false;
    for (const d of dirs) await rmdir(d).catch((e: NodeJS.ErrnoException) => (left ||= e.code !== 'ENOENT'));
    if (!left) return true;
    // EBUSY: the kernel still counts a dying task; it goes within milliseconds.
    await sleep(10);
  }
  return false;
}

export class ContainerCgroup {
  private constructor(
    private readonly layout: CgroupLayout,
    readonly name: string,
  ) {}

  static layout(): CgroupLayout | undefined {
    return detectCgroups();
  }

  /** Create the cgroup and set its limits. */
  static async create(
    layout: CgroupLayout,
    name: string,
    memoryBytes: number,
    pidsMax: number,
  ): Promise<ContainerCgroup> {
    const cg = new ContainerCgroup(layout, name);
    try {
      if (layout.version === 2) {
        const dir = cg.dir('');
        await mkdir(dir, { recursive: true });
        for (const d of [layout.root, join(layout.root, PARENT), dir]) await enableControllers(d);
        await writeFile(join(dir, 'memory.max'), String(memoryBytes));
        if (existsSync(join(dir, 'memory.swap.max'))) await writeFile(join(dir, 'memory.swap.max'), '0');
        await writeFile(join(dir, 'pids.max'), String(pidsMax));
      } else {
        await mkdir(cg.dir('memory'), { recursive: true });
        await mkdir(cg.dir('pids'), { recursive: true });
        await writeFile(join(cg.dir('memory'), 'memory.limit_in_bytes'), String(memoryBytes));
        const memsw = join(cg.dir('memory'), 'memory.memsw.limit_in_bytes');
        if (existsSync(memsw)) await writeFile(memsw, String(memoryBytes));
        await writeFile(join(cg.dir('pids'), 'pids.max'), String(pidsMax));
      }
    } catch (e) {
      await cg.remove().catch(() => undefined);
      throw e;
    }
    return cg;
  }

  /** The cgroup's folder in hierarchy `controller` (v1) or the unified tree (v2). */
  private dir(controller: string): string {
    return this.layout.version === 2
      ? join(this.layout.root, PARENT, this.name)
      : join(this.layout.root, controller, PARENT, this.name);
  }

  /** The OCI runtime's cgroupsPath: the child of this cgroup in every hierarchy. */
  get runtimePath(): string {
    return `/${PARENT}/${this.name}/${CHILD}`;
  }

  /**
   * OOM kills under this cgroup. cgroup v2 counts them up the tree; v1 only in the victim's own
   * cgroup (the runtime's child), so v1 sums the tree while the child exists.
   */
  async oomKills(): Promise<number> {
    const file = this.layout.version === 1 ? 'memory.oom_control' : 'memory.events';
    const dirs = this.layout.version === 1 ? await tree(this.dir('memory')) : [this.dir('memory')];
    let kills = 0;
    for (const dir of dirs) {
      const text = await readFile(join(dir, file), 'utf8').catch(() => '');
      kills += Number(/^oom_kill (\d+)$/m.exec(text)?.[1] ?? 0);
    }
    return kills;
  }

  /** The memory limit was reached at least once (v1's evidence of an OOM kill once the child is gone). */
  async hitLimit(): Promise<boolean> {
    if (this.layout.version === 2) return (await this.oomKills()) > 0;
    const text = await readFile(join(this.dir('memory'), 'memory.failcnt'), 'utf8').catch(() => '0');
    return Number(text.trim()) > 0;
  }

  /** Processes anywhere below this cgroup. */
  async pids(): Promise<number[]> {
    const dirs = await tree(this.dir('pids'));
    return (await Promise.all(dirs.map(procs))).flat();
  }

  /** Kill what is left and remove this cgroup (and the runtime's folders in every other hierarchy). */
  async remove(): Promise<void> {
    const dirs = (await hierarchies(this.layout)).map((h) => join(h, PARENT, this.name));
    const results = await Promise.all(dirs.map(removeTree));
    if (results.includes(false)) throw new Error(`cgroup ${PARENT}/${this.name} could not be removed`);
  }
}

/** Remove cgroups of Tern nodes that died without cleaning up (their name starts with the dead node's pid). */
export async function sweepContainerCgroups(layout: CgroupLayout): Promise<number> {
  let removed = 0;
  for (const h of await hierarchies(layout)) {
    for (const name of await readdir(join(h, PARENT)).catch(() => [] as string[])) {
      const owner = /^(\d+)-/.exec(name);
      if (!owner || processAlive(Number(owner[1]))) continue;
      if (await removeTree(join(h, PARENT, name))) removed++;
    }
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
