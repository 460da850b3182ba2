/**
 * How Tern reaches a container's port without a host port: a helper process makes a fresh network
 * namespace (only loopback, brought up) and listens there on a unix socket in Tern's scratch
 * folder; each connection to the socket is forwarded to 127.0.0.1:<port> inside the namespace
 * (socat). The container joins the namespace by /proc/<helper pid>/ns/net, so nothing else can
 * reach its port and it can reach nothing outside: no interface but loopback exists there.
 * The helper dies with the node (parent-death signal) and takes the namespace with it.
 */
import { access, readlink } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { VmProcess } from '../microvm/vm-process.js';

const READY_LIMIT_MS = 5_000;

const SCRIPT = [
  'ip link set lo up',
  // The container is not root in the namespace's owner: ports below 1024 need the floor lowered.
  '[ "$2" -ge 1024 ] || echo "$2" > /proc/sys/net/ipv4/ip_unprivileged_port_start',
  'exec socat -lpforwarder "UNIX-LISTEN:$1,fork,mode=600,unlink-early" "TCP:127.0.0.1:$2,nodelay"',
].join(' && ');

export interface Forwarder {
  process: VmProcess;
  socket: string;
  /** The namespace the container joins. */
  netns: string;
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** Start the helper and wait until its socket listens inside its own namespace. */
export async function startForwarder(socket: string, port: number, onLine: (line: string) => void): Promise<Forwarder> {
  if (socket.includes(',') || socket.includes(':')) throw new Error(`socket path ${socket} has a "," or ":"`);
  const proc = await VmProcess.spawn({
    command: 'unshare',
    args: ['--net', '--', '/bin/sh', '-c', SCRIPT, 'tern-forwarder', socket, String(port)],
    onLine,
  });
  try {
    const start = performance.now();
    let pause = 1;
    while (!(await exists(socket))) {
      if (proc.hasExited) throw new Error(`the network helper ended (${await proc.exited}): ${proc.stderrSummary()}`);
      if (performance.now() - start > READY_LIMIT_MS)
        throw new Error(`the network helper did not listen within ${READY_LIMIT_MS} ms`);
      await sleep(pause);
      pause = Math.min(pause * 2, 20);
    }
    const netns = `/proc/${proc.pid}/ns/net`;
    // The socket exists only after unshare: still, never hand a container the host's namespace.
    if ((await readlink(netns)) === (await readlink('/proc/self/ns/net')))
      throw new Error('the network helper is still in the host network namespace');
    return { process: proc, socket, netns };
  } catch (e) {
    await proc.kill();
    throw e;
  }
}
