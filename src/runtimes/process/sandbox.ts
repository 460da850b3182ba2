/**
 * The bubblewrap command line for one sandbox. bwrap runs as root (no user namespace, so the
 * host's own permissions apply), builds an empty root with read-only system folders, the
 * function folder at /fn and the shims at /tern, then `setpriv` drops to an unprivileged uid
 * with no capabilities before the function's interpreter starts.
 *
 * The options reach bwrap on its stdin (`--args 0`); its argv is the same for every sandbox
 * (see SANDBOX_COMMAND), so a bwrap can be started, and put in its cgroup, before anyone knows
 * which function it will run. The function's command travels as TERN_EXEC, shell-quoted.
 */
import { lstatSync, readlinkSync } from 'node:fs';

export const SANDBOX_UID = 65534;
export const SANDBOX_GID = 65534;
/** Where the function folder and the shims appear inside. */
export const FN_MOUNT = '/fn';
export const SHIM_MOUNT = '/tern';
export const SETPRIV = '/usr/bin/setpriv';

const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

export interface Bind {
  host: string;
  sandbox: string;
}

export interface SandboxPlan {
  /** Host folder bound read-only at /fn. */
  fnDir: string;
  /** Host folder of the shims, read-only at /tern. */
  shimsDir: string;
  /** Prepared /etc folder (see sandbox-etc.ts). */
  etcDir: string;
  /** Share the host's network namespace; otherwise only a private loopback exists. */
  network: boolean;
  /** Size bound of the private /tmp and /dev/shm. */
  tmpBytes: number;
  hostname: string;
  /** The complete environment of the sandboxed process. */
  env: Record<string, string>;
  /** argv of the sandboxed program, run as the unprivileged user (no NUL bytes). */
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

export function bwrapArgs(plan: SandboxPlan): string[] {
  const size = String(plan.tmpBytes);
  const args = [
    '--unshare-ipc',
    '--unshare-pid',
    '--unshare-uts',
    '--unshare-cgroup-try',
    ...(plan.network ? [] : ['--unshare-net']),
    '--die-with-parent',
    '--new-session',
    '--hostname',
    plan.hostname,
    // Only what setpriv needs to drop to the sandbox user; it clears these before exec.
    '--cap-drop',
    'ALL',
    '--cap-add',
    'CAP_SETUID',
    '--cap-add',
    'CAP_SETGID',
    '--cap-add',
    'CAP_SETPCAP',
    ...systemMountArgs(),
    '--ro-bind',
    plan.etcDir,
    '/etc',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    '--perms',
    '1777',
    '--size',
    size,
    '--tmpfs',
    '/tmp',
    '--perms',
    '1777',
    '--size',
    size,
    '--tmpfs',
    '/dev/shm',
    '--ro-bind',
    plan.fnDir,
    FN_MOUNT,
    '--ro-bind',
    plan.shimsDir,
    SHIM_MOUNT,
  ];
  for (const b of plan.readOnly ?? []) args.push('--ro-bind', b.host, b.sandbox);
  for (const b of plan.writable ?? []) args.push('--bind', b.host, b.sandbox);
  args.push('--chdir', plan.cwd ?? FN_MOUNT, '--clearenv');
  for (const [k, v] of Object.entries(plan.env)) args.push('--setenv', k, v);
  args.push('--setenv', 'TERN_EXEC', shellQuote(plan.command));
  return args;
}

/** Single-quote each argument for sh: safe for any text without NUL. */
export function shellQuote(argv: string[]): string {
  return argv.map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
}

/**
 * bwrap's argv after the options: drop to the sandbox user, then run TERN_EXEC (and take it out
 * of the environment the function sees).
 */
export const SANDBOX_COMMAND = [
  SETPRIV,
  '--reuid',
  String(SANDBOX_UID),
  '--regid',
  String(SANDBOX_GID),
  '--clear-groups',
  '--inh-caps',
  '-all',
  '--bounding-set',
  '-all',
  '--',
  '/bin/sh',
  '-c',
  'eval "set -- $TERN_EXEC"; unset TERN_EXEC; exec "$@"',
];
