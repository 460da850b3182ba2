/**
 * The bubblewrap options for one sandbox (its "plan"). Who runs what:
 *
 *   node (root) ─ sh: joins the instance's cgroup, reads "uid gid" (launch.ts)
 *     └ setpriv: drops to the function's host uid, no capabilities, no groups
 *       └ bwrap (unprivileged): a user namespace mapping SANDBOX_UID inside to that host uid,
 *         fresh pid, mount, ipc, uts, cgroup and network namespaces, an empty root with
 *         read-only system folders and what the stage holds (stage.ts); the seccomp filter
 *         (native/seccomp-filter.c) is loaded last, then
 *         └ tern-init (pid 1, native/tern-init.c) ─ the function's interpreter and shim
 *
 * So nothing in a sandbox is root on the host, nothing in it runs outside the seccomp filter,
 * and every path it sees comes from a system folder or the stage. The options reach bwrap on its
 * stdin (`--args 0`) and the command as TERN_EXEC (shell-quoted; tern-init splits it), so a
 * launcher can be started and put in its cgroup before anyone knows which function it will run.
 *
 * A plan is the whole description of a sandbox: a later zygote (a warm interpreter forked per
 * instance) can take the same plan and differ only in its command.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import type { DeployedFunction } from '../../registry/registry.js';
import { SANDBOX_GID, SANDBOX_UID } from './uids.js';

/**
 * What a sandbox started ahead of its instance bakes in (a zygote, a spare): the version's folder
 * and the spec (handler, env, limits). Starts ahead are kept by this key; it begins with the folder.
 */
export function bakedKey(fn: DeployedFunction): string {
  return `${fn.dir}\n${JSON.stringify(fn.spec)}`;
}

/** Where the function folder and the shims appear inside. */
export const FN_MOUNT = '/fn';
export const SHIM_MOUNT = '/tern';
/** The sandbox's first process, shipped in the stage's shims folder (kit.ts). */
export const INIT_PATH = `${SHIM_MOUNT}/bin/tern-init`;

/** The launcher's file descriptors (launch.ts opens them, bwrap's options name them). */
export const LAUNCH_FD = {
  /** The shim protocol, both directions. */
  channel: 3,
  /** bwrap writes {"child-pid": N} here (network sandboxes only). */
  info: 4,
  /** bwrap waits for one byte here before it starts tern-init (network sandboxes only). */
  go: 5,
  /** The compiled seccomp program, read by bwrap. */
  seccomp: 6,
} as const;

const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty'];
const DEV_BYTES = 64 * 1024;

export interface Bind {
  host: string;
  sandbox: string;
}

export interface SandboxPlan {
  /** Folder bound read-only at /fn (a stage copy: its path shows in mountinfo). */
  fnDir: string;
  /** The shims folder on the stage, read-only at /tern. */
  shimsDir: string;
  /** Prepared /etc folder on the stage (see sandbox-etc.ts). */
  etcDir: string;
  /**
   * User-mode network (sandbox-network.ts): the sandbox reports its pid and waits, after its
   * setup and before tern-init, until the network is attached. Otherwise only a loopback exists.
   */
  network: boolean;
  /** Size bound of the private /tmp and /dev/shm. */
  tmpBytes: number;
  hostname: string;
  /** The complete environment of the sandboxed process. */
  env: Record<string, string>;
  /** argv of the sandboxed program (no NUL bytes). */
  command: string[];
  cwd?: string;
  readOnly?: Bind[];
  /** Writable binds (dependency installs only). */
  writable?: Bind[];
}

let systemMounts: string[] | undefined;

/** /usr and friends: bound read-only when folders, recreated when symlinks (merged-/usr systems). */
function systemMountArgs(): string[] {
  if (systemMounts) return systemMounts;
  const args: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    let info;
    try {
      info = lstatSync(dir);
    } catch {
      continue;
    }
    if (info.isSymbolicLink()) args.push('--symlink', readlinkSync(dir), dir);
    else if (info.isDirectory()) args.push('--ro-bind', dir, dir);
  }
  systemMounts = args;
  return args;
}

/**
 * /dev by hand rather than bwrap's --dev: --dev mounts a devpts, which needs root mapped in the
 * user namespace and so a second namespace level, which the network helper could not join.
 * No pseudo-terminals, then; the usual device files and links.
 */
function devArgs(tmpBytes: string): string[] {
  const args = ['--perms', '0755', '--size', String(DEV_BYTES), '--tmpfs', '/dev'];
  for (const name of DEVICES) args.push('--dev-bind', `/dev/${name}`, `/dev/${name}`);
  args.push('--symlink', '/proc/self/fd', '/dev/fd');
  ['stdin', 'stdout', 'stderr'].forEach((name, fd) => args.push('--symlink', `/proc/self/fd/${fd}`, `/dev/${name}`));
  args.push('--perms', '1777', '--size', tmpBytes, '--tmpfs', '/dev/shm', '--remount-ro', '/dev');
  return args;
}

export function bwrapArgs(plan: SandboxPlan): string[] {
  const size = String(plan.tmpBytes);
  const args = [
    '--unshare-user',
    '--uid',
    String(SANDBOX_UID),
    '--gid',
    String(SANDBOX_GID),
    '--unshare-ipc',
    '--unshare-pid',
    '--unshare-uts',
    '--unshare-net',
    '--unshare-cgroup-try',
    // tern-init is pid 1: bwrap's own init would stay outside the seccomp filter.
    '--as-pid-1',
    '--die-with-parent',
    '--new-session',
    '--hostname',
    plan.hostname,
    '--seccomp',
    String(LAUNCH_FD.seccomp),
    ...(plan.network ? ['--info-fd', String(LAUNCH_FD.info), '--block-fd', String(LAUNCH_FD.go)] : []),
    ...systemMountArgs(),
    '--ro-bind',
    plan.etcDir,
    '/etc',
    '--proc',
    '/proc',
    ...devArgs(size),
    '--perms',
    '1777',
    '--size',
    size,
    '--tmpfs',
    '/tmp',
    '--ro-bind',
    plan.fnDir,
    FN_MOUNT,
    '--ro-bind',
    plan.shimsDir,
    SHIM_MOUNT,
  ];
  for (const b of plan.readOnly ?? []) args.push('--ro-bind', b.host, b.sandbox);
  for (const b of plan.writable ?? []) args.push('--bind', b.host, b.sandbox);
  // The root and /dev are tmpfs owned by the sandbox's own user: read-only once built.
  args.push('--remount-ro', '/');
  args.push('--chdir', plan.cwd ?? FN_MOUNT, '--clearenv');
  for (const [k, v] of Object.entries(plan.env)) args.push('--setenv', k, v);
  args.push('--setenv', 'TERN_EXEC', shellQuote(plan.command));
  return args;
}

/** Single-quote each argument for sh: safe for any text without NUL (tern-init reads the same form). */
export function shellQuote(argv: string[]): string {
  return argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
}

/** bwrap's argv after the options: the same for every sandbox. */
export const SANDBOX_COMMAND = [INIT_PATH];
