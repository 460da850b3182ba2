/**
 * Which OCI runtimes work on this host, found by running a real tiny container with each (as the
 * micro-VM runtime boots a test VM): the same spec, user namespace, network helper and cgroups a
 * function gets, a static busybox serving HTTP, reached through the forwarder, then killed.
 * A runtime that is installed but fails (Debian 12's crun on a hybrid cgroup host) says why.
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CgroupLayout } from '../process/cgroup.js';
import { ContainerCgroup, sweepContainerCgroups } from './container-cgroup.js';
import { launchContainer } from './launch.js';
import {
  deleteContainer,
  findOciRuntime,
  listContainers,
  OCI_RUNTIMES,
  type OciRuntime,
  type OciRuntimeName,
} from './oci-cli.js';

/** Debian's busybox-static: a static binary that runs in an empty root folder. */
export const PROBE_BUSYBOX = '/bin/busybox';

export interface RuntimeVerdict {
  name: OciRuntimeName;
  /** Installed and ran the probe container. */
  works: boolean;
  runtime?: OciRuntime;
  /** "1.1.5: works (ready in 120 ms)" or why not. */
  detail: string;
}

export interface ProbeResult {
  verdicts: RuntimeVerdict[];
  /** The first runtime that works: the default for functions that name none. */
  preferred?: OciRuntime;
  layout?: CgroupLayout;
  /** Why no container can run here at all (not root, no cgroups), when that is so. */
  blocker?: string;
}

export interface ProbeOptions {
  stateRoot: string;
  scratchDir: string;
  timeoutMs: number;
  onLine(runtime: OciRuntimeName, line: string): void;
  closing: AbortSignal;
}

/** Containers and cgroups a node that died left behind: this node's state folders hold only its own. */
async function reapLeftovers(runtime: OciRuntime, layout: CgroupLayout): Promise<number> {
  let count = 0;
  for (const id of await listContainers(runtime).catch(() => [] as string[])) {
    await deleteContainer(runtime, id).catch(() => undefined);
    count++;
  }
  return count + (await sweepContainerCgroups(layout));
}

async function probeRootfs(dir: string): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  for (const sub of ['bin', 'proc', 'dev', 'tmp']) await mkdir(join(rootfs, sub), { recursive: true, mode: 0o755 });
  await copyFile(PROBE_BUSYBOX, join(rootfs, 'bin', 'busybox'));
  return rootfs;
}

async function tryRuntime(
  runtime: OciRuntime,
  rootfs: string,
  layout: CgroupLayout,
  o: ProbeOptions,
): Promise<string | undefined> {
  try {
    const instance = await launchContainer({
      id: `probe-${runtime.name}`,
      oci: runtime,
      layout,
      scratchDir: join(o.scratchDir, 'run'),
      plan: {
        rootfs,
        args: ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/tmp'],
        env: ['PATH=/bin'],
        cwd: '/',
        uid: 0,
        gid: 0,
        hostname: 'tern-probe',
      },
      memoryMiB: 64,
      port: 8080,
      network: false,
      readyTimeoutMs: o.timeoutMs,
      maxResponseBytes: 1024,
      log: (line) => o.onLine(runtime.name, line),
      closing: o.closing,
      released: () => undefined,
    });
    await instance.kill();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

export async function probeOciRuntimes(o: ProbeOptions): Promise<ProbeResult> {
  if (process.getuid?.() !== 0) return { verdicts: [], blocker: 'containers need a node running as root' };
  const layout = ContainerCgroup.layout();
  if (!layout) return { verdicts: [], blocker: 'no cgroup memory and pids controllers under /sys/fs/cgroup' };
  await rm(o.scratchDir, { recursive: true, force: true });
  const rootfs = await probeRootfs(o.scratchDir).catch(() => undefined);
  const verdicts: RuntimeVerdict[] = [];
  for (const name of OCI_RUNTIMES) {
    const runtime = await findOciRuntime(name, o.stateRoot).catch(() => undefined);
    if (!runtime) {
      verdicts.push({ name, works: false, detail: 'not installed' });
      continue;
    }
    await reapLeftovers(runtime, layout);
    const version = runtime.version.replace(/^\S+ version /, '');
    if (!rootfs) {
      verdicts.push({
        name,
        works: false,
        runtime,
        detail: `${version}: untested (no static busybox at ${PROBE_BUSYBOX}: install busybox-static)`,
      });
      continue;
    }
    const start = performance.now();
    const failure = await tryRuntime(runtime, rootfs, layout, o);
    const ms = Math.round(performance.now() - start);
    verdicts.push(
      failure === undefined
        ? { name, works: true, runtime, detail: `${version}: works (probe container served in ${ms} ms)` }
        : { name, works: false, runtime, detail: `${version}: fails: ${failure}` },
    );
  }
  await rm(o.scratchDir, { recursive: true, force: true });
  const preferred = verdicts.find((v) => v.works)?.runtime;
  return { verdicts, layout, ...(preferred ? { preferred } : {}) };
}

/** One line for /v1/info: every runtime's verdict and the default. */
export function describeProbe(p: ProbeResult): string {
  if (p.blocker) return p.blocker;
  const each = p.verdicts.map((v) => `${v.name} ${v.detail}`).join('; ');
  return p.preferred ? `${each}; default ${p.preferred.name}` : `no OCI runtime works here: ${each}`;
}
