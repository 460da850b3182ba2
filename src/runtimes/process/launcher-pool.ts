/**
 * Sandboxes-to-be, made ahead of need. Moving a process into a brand-new cgroup waits for an RCU
 * grace period in the kernel (about 10 ms on the development VM) — a third of a python cold start.
 * So a few launchers are kept ready: a fresh cgroup, and in it a root shell waiting for the host
 * uid to run as (launch.ts). No bwrap, namespace, mount or function code exists until an instance
 * claims one; then it gets its limits and name, its uid and its options. bwrap starts only then,
 * because it runs as the function's own uid. When the pool is empty a launcher is made on the spot.
 */
import type { ChildProcess } from 'node:child_process';
import { InstanceCgroup, type CgroupLayout, type CgroupLimits } from './cgroup.js';
import { spawnLauncher, type LaunchConfig, type Launched } from './launch.js';

export interface Claimed {
  cgroup: InstanceCgroup;
  launched: Launched;
  /** Came from the pool (false: made on the spot). */
  pooled: boolean;
}

interface Ready {
  cgroup: InstanceCgroup;
  launched: Launched;
  onExit: () => void;
}

/** Limits of a launcher nobody claimed yet: a blocked shell needs next to nothing. */
const IDLE_LIMITS: CgroupLimits = { memoryBytes: 32 * 1024 * 1024, pidsMax: 4 };

export class LauncherPool {
  private readonly ready: Ready[] = [];
  private readonly filling = new Set<Promise<void>>();
  private closed = false;
  private seq = 0;

  constructor(
    private readonly config: LaunchConfig,
    private readonly cgroups: CgroupLayout,
    /** Launchers kept ready; 0 turns the pool off. */
    readonly size: number,
  ) {}

  private nextName(suffix: string): string {
    return `${process.pid}-${(++this.seq).toString(36)}-${suffix}`;
  }

  /** A launcher in a cgroup named after `instanceId`, with `limits`. */
  async claim(instanceId: string, limits: CgroupLimits): Promise<Claimed> {
    const name = this.nextName(instanceId);
    for (;;) {
      const entry = this.ready.shift();
      if (!entry) break;
      entry.launched.child.off('exit', entry.onExit);
      this.refill();
      if (entry.launched.child.exitCode !== null || entry.launched.child.signalCode !== null) {
        await entry.cgroup.remove().catch(() => undefined);
        continue;
      }
      try {
        await entry.cgroup.setLimits(limits);
        await entry.cgroup.rename(name);
        return { cgroup: entry.cgroup, launched: entry.launched, pooled: true };
      } catch {
        await discard(entry.launched.child, entry.cgroup);
      }
    }
    this.refill();
    const cgroup = await InstanceCgroup.create(this.cgroups, name, limits);
    try {
      return { cgroup, launched: spawnLauncher(this.config, cgroup.procsFiles), pooled: false };
    } catch (e) {
      await cgroup.remove().catch(() => undefined);
      throw e;
    }
  }

  /** Top the pool up in the background. */
  private refill(): void {
    while (!this.closed && this.ready.length + this.filling.size < this.size) {
      const making: Promise<void> = this.makeOne().finally(() => this.filling.delete(making));
      this.filling.add(making);
    }
  }

  private async makeOne(): Promise<void> {
    let cgroup: InstanceCgroup | undefined;
    try {
      cgroup = await InstanceCgroup.create(this.cgroups, this.nextName('ready'), IDLE_LIMITS);
      const launched = spawnLauncher(this.config, cgroup.procsFiles);
      const entry: Ready = {
        cgroup,
        launched,
        onExit: () => {
          const i = this.ready.indexOf(entry);
          if (i !== -1) this.ready.splice(i, 1);
          void entry.cgroup.remove().catch(() => undefined);
        },
      };
      launched.child.once('exit', entry.onExit);
      if (this.closed) {
        await discard(launched.child, cgroup);
        return;
      }
      this.ready.push(entry);
    } catch {
      // A failed refill only costs the next start its head start.
      if (cgroup) await cgroup.remove().catch(() => undefined);
    }
  }

  /** Kill the unclaimed launchers and remove their cgroups; later claims make their own. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.filling]);
    const entries = this.ready.splice(0);
    await Promise.all(
      entries.map((e) => {
        e.launched.child.off('exit', e.onExit);
        return discard(e.launched.child, e.cgroup);
      }),
    );
  }
}

async function discard(child: ChildProcess, cgroup: InstanceCgroup): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await gone;
  }
  await cgroup.remove().catch(() => undefined);
}
