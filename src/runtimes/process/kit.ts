/**
 * What every process sandbox on this node needs, found and built once: bwrap, setpriv, the
 * compiled seccomp program and init (scripts/setup.sh builds them from native/), the cgroup
 * layout, the stage (stage.ts) with the prepared /etc folders, the shims and the init, the host
 * uids of functions, the network tools and the pool of ready launchers. The python, node and
 * binary runtimes of one node share one kit; the last to close ends it.
 */
import { existsSync, realpathSync } from 'node:fs';
import { isExecutable } from '../../core/executable.js';
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TernError } from '../../core/errors.js';
import { PROJECT_ROOT } from '../../version.js';
import { detectCgroups, InstanceCgroup, sweepStaleCgroups, type CgroupLayout } from './cgroup.js';
import { findBwrap, SETPRIV, type LaunchConfig } from './launch.js';
import { LauncherPool } from './launcher-pool.js';
import type { Bind } from './sandbox.js';
import { buildSandboxEtc, type EtcView } from './sandbox-etc.js';
import { findNetworkTools, type NetworkTools } from './sandbox-network.js';
import { Stage } from './stage.js';
import { makeReadable } from './tree.js';
import { UidAllocator } from './uids.js';

export interface SandboxKit {
  launch: LaunchConfig;
  cgroups: CgroupLayout;
  stage: Stage;
  etc: { offline: EtcView; online: EtcView };
  /** The stage's copy of the shims (python/, node/, binary/) and the init (bin/tern-init). */
  shimsDir: string;
  /** An empty folder to bind at /fn when a sandbox has no function (probes). */
  emptyDir: string;
  /** The node binary as seen inside the sandbox, and what must be bound for it to be there. */
  node: { path: string; binds: Bind[] };
  launchers: LauncherPool;
  uids: UidAllocator;
  /** The user-mode network's tools, or why this node has none. */
  network: NetworkTools | string;
}

export interface KitOptions {
  /** Launchers kept ready ahead of cold starts (0: none). */
  readyLaunchers?: number;
}

export const SHIMS_DIR = join(PROJECT_ROOT, 'shims');
/** Where scripts/setup.sh puts the compiled seccomp program and init. */
export const NATIVE_DIR = join(PROJECT_ROOT, 'build', 'sandbox');
export const SECCOMP_PROGRAM = join(NATIVE_DIR, 'seccomp.bpf');
export const INIT_PROGRAM = join(NATIVE_DIR, 'tern-init');
export const DEFAULT_READY_LAUNCHERS = 2;
const SYSTEM_PREFIXES = ['/usr/', '/bin/', '/lib/', '/lib64/', '/sbin/'];

/**
 * Node from a system folder is visible as is; one elsewhere (nvm, a tarball) has its prefix bound
 * (every folder on the way must be passable by others: bwrap runs as the function's uid).
 */
function nodeInSandbox(): { path: string; binds: Bind[] } {
  const real = realpathSync(process.execPath);
  if (SYSTEM_PREFIXES.some((p) => real.startsWith(p))) return { path: real, binds: [] };
  const prefix = dirname(dirname(real));
  return { path: real, binds: [{ host: prefix, sandbox: prefix }] };
}

/** Refuse a machine the sandboxes cannot work on, saying what is missing. */
async function checkMachine(): Promise<{ bwrap: string; cgroups: CgroupLayout }> {
  const bwrap = findBwrap();
  if (!bwrap) throw new TernError('unavailable', 'bubblewrap (bwrap) is not installed');
  if (!isExecutable(SETPRIV)) throw new TernError('unavailable', `${SETPRIV} (util-linux) is not installed`);
  if (!isExecutable(INIT_PROGRAM) || !existsSync(SECCOMP_PROGRAM))
    throw new TernError(
      'unavailable',
      `the sandbox's seccomp program and init are not built (${NATIVE_DIR}): run scripts/setup.sh (gcc, libseccomp-dev)`,
    );
  if (process.getuid?.() !== 0)
    throw new TernError('unavailable', 'process sandboxes need the node to run as root (cgroups, the stage, uids)');
  const cgroups = detectCgroups();
  if (!cgroups)
    throw new TernError('unavailable', 'no usable cgroup hierarchy at /sys/fs/cgroup (need v2, or v1 memory and pids)');
  await sweepStaleCgroups(cgroups).catch(() => 0);
  // Writable? Create and remove one throwaway cgroup.
  try {
    const test = await InstanceCgroup.create(
      cgroups,
      `${process.pid}-probe-${Math.random().toString(36).slice(2, 8)}`,
      { memoryBytes: 64 << 20, pidsMax: 8 },
    );
    await test.remove();
  } catch (e) {
    throw new TernError('unavailable', `cgroups are not writable: ${(e as Error).message}`);
  }
  return { bwrap, cgroups };
}

/** The shims and the init, copied onto the stage (the checkout's path must not show inside). */
async function stageShims(stage: Stage): Promise<string> {
  const shimsDir = await stage.copyIn(SHIMS_DIR, join(stage.root, 'shims'));
  await mkdir(join(shimsDir, 'bin'), { mode: 0o755 });
  await copyFile(INIT_PROGRAM, join(shimsDir, 'bin', 'tern-init'));
  // A python zygote's children load it over the zygote's looser program (zygote.ts).
  await copyFile(SECCOMP_PROGRAM, join(shimsDir, 'bin', 'seccomp.bpf'));
  await makeReadable(shimsDir);
  return shimsDir;
}

async function buildKit(options: KitOptions): Promise<SandboxKit> {
  const { bwrap, cgroups } = await checkMachine();
  const stage = await Stage.create();
  try {
    const etc = await buildSandboxEtc(await stage.folder('etc'));
    const shimsDir = await stageShims(stage);
    const emptyDir = await stage.folder('empty');
    const launch: LaunchConfig = { bwrap, seccomp: SECCOMP_PROGRAM };
    const launchers = new LauncherPool(launch, cgroups, options.readyLaunchers ?? DEFAULT_READY_LAUNCHERS);
    const uids = new UidAllocator();
    const network = findNetworkTools();
    return { launch, cgroups, stage, etc, shimsDir, emptyDir, node: nodeInSandbox(), launchers, uids, network };
  } catch (e) {
    await stage.close();
    throw e;
  }
}

interface Shared {
  built: Promise<SandboxKit>;
  users: number;
}

const kits = new Map<string, Shared>();

/** A hold on the kit of a node's scratch folder: built on first use, ended by the last release. */
export interface KitLease {
  kit(): Promise<SandboxKit>;
  release(): Promise<void>;
}

export function leaseKit(scratchDir: string, options: KitOptions = {}): KitLease {
  let held: Shared | undefined;
  const acquire = (): Shared => {
    if (held) return held;
    let shared = kits.get(scratchDir);
    if (!shared) {
      const built = buildKit(options);
      shared = { built, users: 0 };
      kits.set(scratchDir, shared);
      const mine = shared;
      // A failed build is retried next time (the admin may fix the machine).
      built.catch(() => {
        if (kits.get(scratchDir) === mine) kits.delete(scratchDir);
      });
    }
    shared.users++;
    held = shared;
    return shared;
  };
  return {
    async kit() {
      try {
        return await acquire().built;
      } catch (e) {
        held = undefined;
        throw e;
      }
    },
    async release() {
      const shared = held;
      if (!shared) return;
      held = undefined;
      if (--shared.users > 0) return;
      if (kits.get(scratchDir) === shared) kits.delete(scratchDir);
      const built = await shared.built.catch(() => undefined);
      if (!built) return;
      await built.launchers.close();
      await built.stage.close();
    },
  };
}
