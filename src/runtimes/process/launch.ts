/**
 * Starting a sandbox so that it is inside its cgroup before anything of it runs: a root shell
 * writes its own pid into the cgroup (join), waits for the function's host uid and gid on its
 * stdin, then execs setpriv, which drops to that uid and execs bwrap in the same process.
 * Everything bwrap and the function later fork inherits the cgroup; there is no window outside it.
 * The shell opens the seccomp program for bwrap (fd 6) while it is still root.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { isExecutable } from '../../core/executable.js';
import { delimiter, join } from 'node:path';
import { PassThrough, type Duplex, type Readable, type Writable } from 'node:stream';
import { LAUNCH_FD, SANDBOX_COMMAND } from './sandbox.js';
import type { HostIdentity } from './uids.js';

export const SETPRIV = '/usr/bin/setpriv';
/** sh exits 125 when it cannot join the cgroup (bwrap itself never uses that code). */
export const JOIN_FAILED_EXIT = 125;
/** sh exits 126 when its stdin did not start with "uid gid". */
export const IDENTITY_FAILED_EXIT = 126;

const JOIN = `while [ "$1" != -- ]; do echo $$ > "$1" || exit ${JOIN_FAILED_EXIT}; shift; done; shift`;
const DROP = `${SETPRIV} --reuid="$uid" --regid="$gid" --clear-groups --inh-caps=-all --bounding-set=-all --`;
/** $1: the seccomp program; then cgroup.procs files, --, and bwrap's argv. */
const LAUNCHER_SCRIPT = [
  'seccomp=$1; shift',
  JOIN,
  `read -r uid gid || exit ${IDENTITY_FAILED_EXIT}`,
  `case "$uid:$gid" in *[!0-9:]*|:*|*:) exit ${IDENTITY_FAILED_EXIT};; esac`,
  `exec ${DROP} "$@" ${LAUNCH_FD.seccomp}<"$seccomp"`,
].join('\n');
/** Join the cgroups, then exec "$@" as it is (helpers of a sandbox: the network). */
const JOIN_SCRIPT = `${JOIN}; exec "$@"`;

/** What every launcher of a node needs. */
export interface LaunchConfig {
  bwrap: string;
  /** The compiled seccomp program (native/seccomp-filter.c). */
  seccomp: string;
}

let bwrapPath: string | undefined;

/** The bwrap executable on PATH (or /usr/bin/bwrap), or undefined when absent. */
export function findBwrap(): string | undefined {
  if (bwrapPath) return bwrapPath;
  // The system's own copy first: this runs as root, PATH is a weaker source.
  const dirs = ['/usr/bin', '/usr/local/bin', ...(process.env.PATH ?? '').split(delimiter)];
  bwrapPath = dirs
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, 'bwrap'))
    .find(isExecutable);
  return bwrapPath;
}

export interface Launched {
  child: ChildProcess;
  /** fd 3 of the sandboxed process: the shim protocol, both directions. */
  channel: Duplex;
  stdout: Readable;
  stderr: Readable;
  /** The launcher's stdin: "uid gid", then bwrap's options, then end of file. */
  options: Writable;
  /** bwrap's --info-fd (network sandboxes). */
  info: Readable;
  /** bwrap's --block-fd (network sandboxes). */
  go: Writable;
}

/** A spawned child's extra pipe (node types stdio as a 5-tuple). */
export function stdioAt(child: ChildProcess, fd: number): Duplex {
  return (child.stdio as unknown as Duplex[])[fd]!;
}

/**
 * Spawn a launcher that joins the cgroup of `procsFiles` and then waits on stdin.
 * Nothing of the sandbox exists until `startSandbox` sends what it waits for.
 */
export function spawnLauncher(config: LaunchConfig, procsFiles: string[]): Launched {
  return spawnWith(config, procsFiles, 'pipe');
}

/**
 * A launcher whose fd 3 is node's IPC channel instead of a plain socket: JSON messages, and
 * sockets passed along with them (a python zygote hands over each child's channel this way).
 * `channel` is then a closed placeholder; talk through child.send() and 'message'.
 */
export function spawnIpcLauncher(config: LaunchConfig, procsFiles: string[]): Launched {
  return spawnWith(config, procsFiles, 'ipc');
}

function spawnWith(config: LaunchConfig, procsFiles: string[], fd3: 'pipe' | 'ipc'): Launched {
  const argv = [config.bwrap, '--args', '0', '--', ...SANDBOX_COMMAND];
  const child = spawn(
    '/bin/sh',
    ['-c', LAUNCHER_SCRIPT, 'tern-sandbox', config.seccomp, ...procsFiles, '--', ...argv],
    {
      stdio: ['pipe', 'pipe', 'pipe', fd3, 'pipe', 'pipe'],
      env: { PATH: '/usr/bin:/bin' },
    },
  );
  // A launcher that dies before its options are written must not raise EPIPE on the node.
  child.stdin!.on('error', () => undefined);
  const info = stdioAt(child, LAUNCH_FD.info);
  const go = stdioAt(child, LAUNCH_FD.go);
  info.on('error', () => undefined);
  go.on('error', () => undefined);
  return {
    child,
    channel: fd3 === 'pipe' ? stdioAt(child, LAUNCH_FD.channel) : new PassThrough().end(),
    stdout: child.stdout!,
    stderr: child.stderr!,
    options: child.stdin!,
    info,
    go,
  };
}

/**
 * Send the launcher the function's host identity and bwrap its options: the sandbox is built and
 * the function started (a network sandbox waits for `go`, see sandbox-network.ts).
 */
export function startSandbox(launched: Launched, identity: HostIdentity, options: string[], network = false): void {
  if (!network) {
    // bwrap was not told about these fds: nothing will come or go through them.
    launched.info.destroy();
    launched.go.destroy();
  }
  launched.options.end(Buffer.from(`${identity.uid} ${identity.gid}\n${options.join('\0')}\0`));
}

/** Spawn and start at once. */
export function launchSandbox(
  config: LaunchConfig,
  identity: HostIdentity,
  options: string[],
  procsFiles: string[],
): Launched {
  const launched = spawnLauncher(config, procsFiles);
  startSandbox(launched, identity, options);
  return launched;
}

/** Spawn a helper of a sandbox (its network) inside the sandbox's cgroup. */
export function spawnInCgroup(procsFiles: string[], argv: string[], stdio: StdioOptions): ChildProcess {
  return spawn('/bin/sh', ['-c', JOIN_SCRIPT, 'tern-helper', ...procsFiles, '--', ...argv], {
    stdio,
    env: { PATH: '/usr/bin:/bin' },
  });
}
