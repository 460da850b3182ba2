/**
 * Node cannot set PR_SET_PDEATHSIG on a child, but util-linux's setpriv can, and it survives the
 * exec of the hypervisor: if the node process dies, the kernel kills the VM process with it.
 */
import { execFile } from 'node:child_process';

let cached: Promise<string | undefined> | undefined;

/** The setpriv binary when it supports --pdeathsig, else undefined (leftovers are then cleaned at next start). */
export function pdeathsigWrapper(): Promise<string | undefined> {
  cached ??= new Promise((resolveWrapper) => {
    execFile('setpriv', ['--help'], { timeout: 5_000 }, (error, stdout) => {
      resolveWrapper(!error && stdout.includes('--pdeathsig') ? 'setpriv' : undefined);
    });
  });
  return cached;
}

/** The argv that runs `command args` with the parent-death signal set, when the host can. */
export async function withPdeathsig(command: string, args: string[]): Promise<{ command: string; args: string[] }> {
  const wrapper = await pdeathsigWrapper();
  return wrapper ? { command: wrapper, args: ['--pdeathsig', 'KILL', '--', command, ...args] } : { command, args };
}
