/**
 * What every process sandbox on this node needs, found and built once: bwrap, setpriv, the
 * cgroup layout, the prepared /etc folders, the shims folder and the pool of ready launchers.
 * The python, node and binary runtimes of one node share one kit; the last to close ends it.
 */
import { accessSync, constants, realpathSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TernError } from '../../core/errors.js';
import { PROJECT_ROOT } from '../../version.js';
import { detectCgroups, InstanceCgroup, sweepStaleCgroups, type CgroupLayout } from './cgroup.js';
import { findBwrap } from './launch.js';
import { LauncherPool } from './launcher-pool.js';
import type { Bind } from './sandbox.js';
import { SETPRIV } from './sandbox.js';
import { buildSandboxEtc, type EtcView } from './sandbox-etc.js';

export interface SandboxKit {
  bwrap: string;
  cgroups: CgroupLayout;
  etc: { offline: EtcView; online: EtcView };
  /** Host folder with python/, node/, binary/ shims. */
  shimsDir: string;
  /** An empty folder to bind at /fn when a sandbox has no function (probes). */
  emptyDir: string;
  /** The node binary as seen inside the sandbox, and what must be bound for it to be there. */
  node: { path: string; binds: Bind[] };
  launchers: LauncherPool;
}

export interface KitOptions {
  /** Launchers kept ready ahead of cold starts (0: none). */
  readyLaunchers?: number;
}

export const SHIMS_DIR = join(PROJECT_ROOT, 'shims');
export const DEFAULT_READY_LAUNCHERS = 2;
const SYSTEM_PREFIXES = ['/usr/', '/bin/', '/lib/', '/lib64/', '/sbin/'];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Node from a system folder is visible as is; one elsewhere (nvm, a tarball) has its prefix bound. */
function nodeInSandbox(): { path: string; binds: Bind[] } {
  const real = realpathSync(process.execPath);
  if (SYSTEM_PREFIXES.some((p) => real.startsWith(p))) return { path: real, binds: [] };
  const prefix = dirname(dirname(real));
  return { path: real, binds: [{ host: prefix, sandbox: prefix }] };
}

async function buildKit(scratchDir: string, options: KitOptions): Promise<{ kit: SandboxKit; dir: string }> {
  const bwrap = findBwrap();
  if (!bwrap) throw new TernError('unavailable', 'bubblewrap (bwrap) is not installed');
  if (!executable(SETPRIV)) throw new TernError('unavailable', `${SETPRIV} (util-linux) is not installed`);
  if (process.getuid?.() !== 0)
    throw new TernError(
      'unavailable',
      'process sandboxes need the node to run as root (cgroups, bwrap without user namespaces)',
    );
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
  await mkdir(scratchDir, { recursive: true });
  // A folder of its own: a kit never rebuilds files a running sandbox has bound.
  const dir = await mkdtemp(join(scratchDir, 'process-sandbox-'));
  const etc = await buildSandboxEtc(join(dir, 'etc'));
  const emptyDir = join(dir, 'empty');
  await mkdir(emptyDir, { mode: 0o755 });
  const launchers = new LauncherPool(bwrap, cgroups, options.readyLaunchers ?? DEFAULT_READY_LAUNCHERS);
  return { kit: { bwrap, cgroups, etc, shimsDir: SHIMS_DIR, emptyDir, node: nodeInSandbox(), launchers }, dir };
}

interface Shared {
  built: Promise<{ kit: SandboxKit; dir: string }>;
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
      const built = buildKit(scratchDir, options);
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
        return (await acquire().built).kit;
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
      await built.kit.launchers.close();
      await rm(built.dir, { recursive: true, force: true });
    },
  };
}
