/** Free loopback ports for servers that cannot be told to pick one (workerd, the node's CoAP port). */
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';

// The TCP one is the micro-VM runtime's (it finds QEMU a forwarded port the same way).
export { freeLoopbackPort } from '../../src/runtimes/microvm/free-port.js';

/** A UDP port free on 127.0.0.1 right now (for the node's CoAP trigger). */
export function freeLoopbackUdpPort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolvePort(port));
    });
  });
}

/** Resolves once 127.0.0.1:port accepts a connection; rejects after `timeoutMs` or if `gaveUp()` says so. */
export async function waitForPort(port: number, timeoutMs: number, gaveUp: () => string | null): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    const why = gaveUp();
    if (why !== null) throw new Error(why);
    if (Date.now() > deadline) throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
