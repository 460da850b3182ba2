/**
 * One cgroup per sandboxed instance: memory and pids limits, the OOM-kill counter, and a
 * guaranteed-empty removal. cgroup v1 (a memory and a pids hierarchy) and v2 (one unified tree).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CgroupLayout {
  version: 1 | 2;
  /** Usually /sys/fs/cgroup. */
  root: string;
}

export interface CgroupLimits {
  memoryBytes: number;
  pidsMax: number;
}

/** Every Tern cgroup sits under this folder of each hierarchy. */
const PARENT = 'tern';

export function detectCgroups(root = '/sys/fs/cgroup'): CgroupLayout | undefined {
  if (existsSync(join(root, 'cgroup.controllers'))) return { version: 2, root };
  if (existsSync(join(root, 'memory', 'memory.limit_in_bytes')) && existsSync(join(root, 'pids', 'cgroup.procs')))
    return { version: 1, root };
  return undefined;
}

/** The folders that make up one cgroup: v1 one per controller, v2 one. */
function cgroupDirs(layout: CgroupLayout, name: string): { memory: string; pids: string; all: string[] } {
  if (layout.version === 2) {
    const dir = join(layout.root, PARENT, name);
    return { memory: dir, pids: dir, all: [dir] };
  }
  const memory = join(layout.root, 'memory', PARENT, name);
  const pids = join(layout.root, 'pids', PARENT, name);
  return { memory, pids, all: [memory, pids] };
}

function parentDirs(layout: CgroupLayout): string[] {
  return layout.version === 2
    ? [join(layout.root, PARENT)]
    : [join(layout.root, 'memory', PARENT), join(layout.root, 'pids', PARENT)];
}

async function ensureV2Controllers(layout: CgroupLayout): Promise<void> {
  // Controllers must be enabled in every ancestor's subtree_control for the leaf to get the files.
  for (const dir of [layout.root, join(layout.root, PARENT)]) {
    const enabled = (await readFile(join(dir, 'cgroup.subtree_control'), 'utf8')).split(/\s+/);
    const missing = ['memory', 'pids'].filter((c) => !enabled.includes(c));
    if (missing.length) await writeFile(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' '));
  }
}

async function readPids(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map(Number);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

export class InstanceCgroup {
  private constructor(
    readonly layout: CgroupLayout,
    public name: string,
    private dirs: { memory: string; pids: string; all: string[] },
  ) {}

  /** Create the cgroup and set its limits. Throws if the hierarchy is not writable. */
  static async create(layout: CgroupLayout, name: string, limits: CgroupLimits): Promise<InstanceCgroup> {
    for (const dir of parentDirs(layout)) await mkdir(dir, { recursive: true });
    if (layout.version === 2) await ensureV2Controllers(layout);
    const dirs = cgroupDirs(layout, name);
    const cg = new InstanceCgroup(layout, name, dirs);
    try {
      for (const dir of dirs.all) await mkdir(dir);
      if (layout.version === 2) {
        if (existsSync(join(dirs.memory, 'memory.swap.max')))
          await writeFile(join(dirs.memory, 'memory.swap.max'), '0');
        // One OOM kill takes the whole instance down, never half of it.
        if (existsSync(join(dirs.memory, 'memory.oom.group')))
          await writeFile(join(dirs.memory, 'memory.oom.group'), '1');
      }
      await cg.setLimits(limits);
    } catch (e) {
      await cg.remove().catch(() => undefined);
      throw e;
    }
    return cg;
  }

  /** Set (or change, before the sandbox starts) the memory and pids limits. */
  async setLimits(limits: CgroupLimits): Promise<void> {
    const memory = this.dirs.memory;
    if (this.layout.version === 1) {
      // memsw (memory + swap) may never be below the memory limit: raise it first, lower it last.
      const memsw = join(memory, 'memory.memsw.limit_in_bytes');
      const hasMemsw = existsSync(memsw);
      const current = hasMemsw ? Number((await readFile(memsw, 'utf8')).trim()) : 0;
      if (hasMemsw && limits.memoryBytes > current) await writeFile(memsw, String(limits.memoryBytes));
      await writeFile(join(memory, 'memory.limit_in_bytes'), String(limits.memoryBytes));
      if (hasMemsw && limits.memoryBytes <= current) await writeFile(memsw, String(limits.memoryBytes));
    } else {
      await writeFile(join(memory, 'memory.max'), String(limits.memoryBytes));
    }
    await writeFile(join(this.dirs.pids, 'pids.max'), String(limits.pidsMax));
  }

  /** Rename the cgroup (its processes stay in it): a pre-made cgroup takes its instance's name. */
  async rename(name: string): Promise<void> {
    const next = cgroupDirs(this.layout, name);
    const done: number[] = [];
    try {
      for (let i = 0; i < this.dirs.all.length; i++) {
        await rename(this.dirs.all[i]!, next.all[i]!);
        done.push(i);
      }
    } catch (e) {
      for (const i of done) await rename(next.all[i]!, this.dirs.all[i]!).catch(() => undefined);
      throw e;
    }
    this.dirs = next;
    this.name = name;
  }

  /** The cgroup.procs files a process writes its pid to, to join (every hierarchy). */
  get procsFiles(): string[] {
    return this.dirs.all.map((d) => join(d, 'cgroup.procs'));
  }

  /** How many times the kernel's OOM killer killed a process in this cgroup. */
  async oomKills(): Promise<number> {
    const file = this.layout.version === 1 ? 'memory.oom_control' : 'memory.events';
    const text = await readFile(join(this.dirs.memory, file), 'utf8').catch(() => '');
    const m = /^oom_kill (\d+)$/m.exec(text);
    return m ? Number(m[1]) : 0;
  }

  /** The pids of every process in the cgroup. */
  async pids(): Promise<number[]> {
    const seen = new Set<number>();
    for (const f of this.procsFiles) for (const pid of await readPids(f)) seen.add(pid);
    return [...seen];
  }

  /**
   * Wait until no process is left, killing stragglers. The pid namespace normally empties the
   * cgroup by itself once the sandbox's init dies: give it `graceMs` before killing by pid.
   */
  async empty(graceMs = 1000, limitMs = 5000): Promise<boolean> {
    const start = performance.now();
    let pause = 2;
    let killed = false;
    for (;;) {
      const pids = await this.pids();
      if (pids.length === 0) return true;
      const waited = performance.now() - start;
      if (waited > limitMs) return false;
      if (waited > graceMs || killed) {
        if (this.layout.version === 2 && existsSync(join(this.dirs.memory, 'cgroup.kill'))) {
          await writeFile(join(this.dirs.memory, 'cgroup.kill'), '1').catch(() => undefined);
        } else {
          pids.forEach(killQuietly);
        }
        killed = true;
      }
      await sleep(pause);
      pause = Math.min(pause * 2, 50);
    }
  }

  /** Kill what is left and delete the cgroup. Idempotent. */
  async remove(): Promise<void> {
    const emptied = await this.empty();
    const problems: string[] = [];
    for (const dir of this.dirs.all) {
      for (let attempt = 0; ; attempt++) {
        try {
          await rmdir(dir);
          break;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          // EBUSY: the kernel still counts a dying task; it goes within milliseconds.
          if (code === 'EBUSY' && attempt < 20) {
            await sleep(10);
            continue;
          }
          problems.push(`${dir}: ${(e as Error).message}`);
          break;
        }
      }
    }
    if (!emptied || problems.length)
      throw new Error(`cgroup ${this.name} not removed${emptied ? '' : ' (processes left)'}: ${problems.join('; ')}`);
  }
}

/**
 * Remove cgroups left by Tern processes that died without cleaning up (names start with the
 * owning node's pid). Live nodes' cgroups are left alone.
 */
export async function sweepStaleCgroups(layout: CgroupLayout): Promise<number> {
  let removed = 0;
  for (const parent of parentDirs(layout)) {
    const names = await readdir(parent).catch(() => [] as string[]);
    for (const name of names) {
      const owner = /^(\d+)-/.exec(name);
      if (!owner || processAlive(Number(owner[1]))) continue;
      const dir = join(parent, name);
      for (const pid of await readPids(join(dir, 'cgroup.procs')).catch(() => [] as number[])) killQuietly(pid);
      if (
        await rmdir(dir).then(
          () => true,
          () => false,
        )
      )
        removed++;
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
