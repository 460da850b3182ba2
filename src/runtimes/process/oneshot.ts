/**
 * A sandboxed command run to completion under its own cgroup and a deadline: dependency
 * installs at deploy time and the probe. Output is kept only as a bounded tail for messages.
 */
import { randomBytes } from 'node:crypto';
import { InstanceCgroup } from './cgroup.js';
import type { SandboxKit } from './kit.js';
import { launchSandbox } from './launch.js';
import { bwrapArgs, type SandboxPlan } from './sandbox.js';
import type { HostIdentity } from './uids.js';

export interface OneShotLimits {
  memoryMiB: number;
  pidsMax: number;
  timeoutMs: number;
}

export interface OneShotResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  oomKills: number;
  /** The last few KiB of stdout and stderr together. */
  output: string;
}

const TAIL_BYTES = 8 * 1024;

export async function runOnce(
  kit: SandboxKit,
  plan: SandboxPlan,
  limits: OneShotLimits,
  identity: HostIdentity,
): Promise<OneShotResult> {
  if (plan.network) throw new Error('one-shot sandboxes have no network');
  const cgroup = await InstanceCgroup.create(kit.cgroups, `${process.pid}-once-${randomBytes(4).toString('hex')}`, {
    memoryBytes: limits.memoryMiB * 1024 * 1024,
    pidsMax: limits.pidsMax,
  });
  try {
    const launched = launchSandbox(kit.launch, identity, bwrapArgs(plan), cgroup.procsFiles);
    launched.channel.destroy();
    let tail = Buffer.alloc(0);
    const keep = (chunk: Buffer) => {
      tail = Buffer.concat([tail, chunk]);
      if (tail.length > TAIL_BYTES) tail = tail.subarray(tail.length - TAIL_BYTES);
    };
    launched.stdout.on('data', keep);
    launched.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      launched.child.kill('SIGKILL');
    }, limits.timeoutMs);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      launched.child.once('error', reject);
      launched.child.once('close', (c: number | null, s: NodeJS.Signals | null) => resolve([c, s]));
    }).finally(() => clearTimeout(timer));
    return { code, signal, timedOut, oomKills: await cgroup.oomKills(), output: tail.toString('utf8') };
  } finally {
    await cgroup.remove();
  }
}
