/**
 * Starts one container: Tern's cgroup with the function's limits, the network helper and its
 * namespace, the bundle (config.json over the shared read-only rootfs), the OCI runtime's `run`,
 * then waits (bounded) until the container's HTTP server answers. Any failure undoes all of it.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TernError } from '../../core/errors.js';
import type { CgroupLayout } from '../process/cgroup.js';
import { VmProcess } from '../microvm/vm-process.js';
import type { LogStream } from '../runtime.js';
import { ContainerCgroup } from './container-cgroup.js';
import { startForwarder, type Forwarder } from './forwarder.js';
import { SLIRP_DNS, startOutbound } from './outbound.js';
import { ContainerInstance } from './instance.js';
import { deleteContainer, runArgs, type OciRuntime } from './oci-cli.js';
import { ociSpec, type ContainerPlan } from './oci-spec.js';

/** Processes one container may have (its server and the children it forks per request). */
const PIDS_MAX = 256;
/** The OpenFaaS watchdog's health path; any HTTP answer at all means the server is up. */
const READY_PATH = '/_/health';

export interface LaunchRequest {
  id: string;
  oci: OciRuntime;
  layout: CgroupLayout;
  /** Bundles and sockets go here (short paths: a unix socket path has at most 107 bytes). */
  scratchDir: string;
  plan: Omit<ContainerPlan, 'netns' | 'cgroupsPath' | 'tmpBytes' | 'userNamespace'>;
  memoryMiB: number;
  port: number;
  /** `network = true`: outbound access through slirp4netns. */
  network: boolean;
  readyTimeoutMs: number;
  maxResponseBytes: number;
  log(line: string, stream: LogStream): void;
  /** Aborts a start in flight (node shutdown). */
  closing: AbortSignal;
  released(): void;
}

/** One GET through the socket: true when any HTTP response came back. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const req = request({ socketPath, path: READY_PATH, method: 'GET', agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolveProbe(true);
    });
    req.on('error', () => resolveProbe(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function waitReady(r: LaunchRequest, proc: VmProcess, socket: string, cgroup: ContainerCgroup): Promise<void> {
  const start = performance.now();
  let pause = 2;
  for (;;) {
    if (await answers(socket)) return;
    if (proc.hasExited) {
      const how = await proc.exited;
      const oom = (await cgroup.hitLimit()) ? `out of memory (limit ${r.memoryMiB} MiB); ` : '';
      throw new TernError(
        'function_crashed',
        `the container ended before it served on port ${r.port} (${oom}${how}): ${proc.stderrSummary() || 'no output'}`,
      );
    }
    if (r.closing.aborted) throw new TernError('unavailable', 'the container runtime is shutting down');
    if (performance.now() - start > r.readyTimeoutMs)
      throw new TernError(
        'function_crashed',
        `the container did not answer HTTP on port ${r.port} within ${r.readyTimeoutMs} ms`,
      );
    await sleep(pause);
    pause = Math.min(pause * 2, 25);
  }
}

/** A resolv.conf naming slirp's DNS, mounted where the image has a regular /etc/resolv.conf (the store makes one). */
async function resolvConf(bundle: string, rootfs: string): Promise<string | undefined> {
  if (!(await lstat(join(rootfs, 'etc', 'resolv.conf')).catch(() => undefined))?.isFile()) return undefined;
  const path = join(bundle, 'resolv.conf');
  await writeFile(path, `nameserver ${SLIRP_DNS}\n`, { mode: 0o644 });
  return path;
}

export async function launchContainer(r: LaunchRequest): Promise<ContainerInstance> {
  const key = randomBytes(8).toString('hex');
  const bundle = join(r.scratchDir, key);
  const socket = join(bundle, 'http.sock');
  const pidFile = join(bundle, 'pid');
  const containerId = `tern-${key}`;
  let cgroup: ContainerCgroup | undefined;
  let forwarder: Forwarder | undefined;
  let proc: VmProcess | undefined;
  let outbound: VmProcess | undefined;
  try {
    // 0711: the container's mapped root must pass to reach a bind-mounted resolv.conf, never list.
    await mkdir(bundle, { recursive: true, mode: 0o711 });
    const memoryBytes = r.memoryMiB * 1024 * 1024;
    cgroup = await ContainerCgroup.create(r.layout, `${process.pid}-${key}`, memoryBytes, PIDS_MAX);
    forwarder = await startForwarder(socket, r.port, (line) => r.log(`[network helper] ${line}`, 'stderr'));
    const plan: ContainerPlan = {
      ...r.plan,
      netns: forwarder.netns,
      cgroupsPath: cgroup.runtimePath,
      tmpBytes: memoryBytes,
      userNamespace: r.oci.name !== 'runsc',
    };
    if (r.network) {
      outbound = await startOutbound(forwarder.process.pid, (line) => r.log(`[slirp4netns] ${line}`, 'stderr'));
      plan.resolvConf = await resolvConf(bundle, r.plan.rootfs);
    }
    await writeFile(join(bundle, 'config.json'), JSON.stringify(ociSpec(plan)));
    proc = await VmProcess.spawn({
      command: r.oci.path,
      args: runArgs(r.oci, bundle, pidFile, containerId),
      cwd: bundle,
      onLine: r.log,
    });
    await waitReady(r, proc, socket, cgroup);
    return new ContainerInstance({
      id: r.id,
      containerId,
      oci: r.oci,
      process: proc,
      forwarder,
      ...(outbound ? { outbound } : {}),
      cgroup,
      bundle,
      pidFile,
      port: r.port,
      memoryMiB: r.memoryMiB,
      maxResponseBytes: r.maxResponseBytes,
      released: r.released,
    });
  } catch (e) {
    await outbound?.kill();
    await undo(r, { cgroup, forwarder, proc, bundle, containerId });
    throw e;
  }
}

async function undo(
  r: LaunchRequest,
  p: { cgroup?: ContainerCgroup; forwarder?: Forwarder; proc?: VmProcess; bundle: string; containerId: string },
): Promise<void> {
  for (const pid of (await p.cgroup?.pids()) ?? []) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  if (p.proc && !p.proc.hasExited) {
    const late = await Promise.race([p.proc.exited.then(() => false), sleep(2_000).then(() => true)]);
    if (late) {
      await p.proc.kill();
      await deleteContainer(r.oci, p.containerId).catch(() => undefined);
    }
  }
  await p.forwarder?.process.kill();
  await p.cgroup?.remove().catch(() => undefined);
  await rm(p.bundle, { recursive: true, force: true });
  r.released();
}
