/**
 * `network = true` for a container: outbound access through slirp4netns, a user-mode network
 * stack attached to the container's own namespace (a tap device, NAT in a host process, DNS at
 * 10.0.2.3). The host's loopback stays unreachable (--disable-host-loopback), and nothing from
 * outside can reach the container: its port is still only behind Tern's forwarder.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmProcess } from '../microvm/vm-process.js';

export const SLIRP_DNS = '10.0.2.3';
const READY_LIMIT_MS = 5_000;
const TAP = 'tap0';

/** True once the namespace of `pid` has a default route through the tap device. */
async function routed(pid: number): Promise<boolean> {
  const routes = await readFile(`/proc/${pid}/net/route`, 'utf8').catch(() => '');
  return routes.split('\n').some((line) => line.startsWith(`${TAP}\t00000000`));
}

/** Attach slirp4netns to the namespace of `netnsPid`; resolves once the default route is up. */
export async function startOutbound(netnsPid: number, onLine: (line: string) => void): Promise<VmProcess> {
  const proc = await VmProcess.spawn({
    command: 'slirp4netns',
    args: ['--configure', '--mtu=65520', '--disable-host-loopback', String(netnsPid), TAP],
    onLine,
  });
  const start = performance.now();
  let pause = 1;
  while (!(await routed(netnsPid))) {
    if (proc.hasExited) {
      const how = await proc.exited;
      throw new Error(`slirp4netns ended (${how}): ${proc.stderrSummary() || 'is it installed?'}`);
    }
    if (performance.now() - start > READY_LIMIT_MS) {
      await proc.kill();
      throw new Error(`slirp4netns did not configure the network within ${READY_LIMIT_MS} ms`);
    }
    await sleep(pause);
    pause = Math.min(pause * 2, 20);
  }
  return proc;
}
