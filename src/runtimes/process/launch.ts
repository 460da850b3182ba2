/**
 * Starting a sandbox so that it is inside its cgroup before anything of it runs: a root shell
 * writes its own pid into the cgroup (join), then execs bwrap in the same process. Everything
 * bwrap and the function later fork inherits the cgroup; there is no window outside it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Duplex, Readable, Writable } from 'node:stream';
import { SANDBOX_COMMAND } from './sandbox.js';

/** sh exits 125 when it cannot join the cgroup (bwrap itself never uses that code). */
export const JOIN_FAILED_EXIT = 125;
const JOIN_THEN_EXEC = `while [ "$1" != -- ]; do echo $$ > "$1" || exit ${JOIN_FAILED_EXIT}; shift; done; shift; exec "$@"`;

let bwrapPath: string | undefined;

/** The bwrap executable on PATH (or /usr/bin/bwrap), or undefined when absent. */
export function findBwrap(): string | undefined {
  if (bwrapPath) return bwrapPath;
  // The system's own copy first: this runs as root, PATH is a weaker source.
  const dirs = ['/usr/bin', '/usr/local/bin', ...(process.env.PATH ?? '').split(delimiter)];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'bwrap');
    try {
      accessSync(candidate, constants.X_OK);
      bwrapPath = candidate;
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

export interface Launched {
  child: ChildProcess;
  /** fd 3 of the sandboxed process: the shim protocol, both directions. */
  channel: Duplex;
  stdout: Readable;
  stderr: Readable;
  /** bwrap's stdin: its options, then end of file. */
  options: Writable;
}

/**
 * Spawn a bwrap that joins the cgroup of `procsFiles` and then waits for its options on stdin.
 * Nothing of the sandbox exists until `startSandbox` sends them.
 */
export function spawnLauncher(bwrap: string, procsFiles: string[]): Launched {
  const child = spawn(
    '/bin/sh',
    ['-c', JOIN_THEN_EXEC, 'tern-sandbox', ...procsFiles, '--', bwrap, '--args', '0', '--', ...SANDBOX_COMMAND],
    {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      env: { PATH: '/usr/bin:/bin' },
    },
  );
  // A launcher that dies before its options are written must not raise EPIPE on the node.
  child.stdin!.on('error', () => undefined);
  return {
    child,
    channel: child.stdio[3] as Duplex,
    stdout: child.stdout!,
    stderr: child.stderr!,
    options: child.stdin!,
  };
}

/** Send bwrap its options (see sandbox.ts): the sandbox is built and the function started. */
export function startSandbox(launched: Launched, options: string[]): void {
  launched.options.end(Buffer.from(`${options.join('\0')}\0`));
}

/** Spawn and start at once. */
export function launchSandbox(bwrap: string, options: string[], procsFiles: string[]): Launched {
  const launched = spawnLauncher(bwrap, procsFiles);
  startSandbox(launched, options);
  return launched;
}
