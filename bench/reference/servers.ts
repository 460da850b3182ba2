/** Starts the reference peers: the bare node:http server and Cloudflare's workerd. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startChildServer, waitForListeningLine, type ChildServer } from '../lib/child-server.js';
import { freeLoopbackPort, waitForPort } from '../lib/free-port.js';
import { DIST_BENCH, REFERENCE_SRC, WORKERD } from '../lib/paths.js';

const START_TIMEOUT_MS = 30_000;

export function startBareHttp(): Promise<ChildServer> {
  return startChildServer({
    label: 'bare node:http reference',
    command: process.execPath,
    args: [join(DIST_BENCH, 'reference/bare-http.js')],
    ready: (child) => waitForListeningLine(child, START_TIMEOUT_MS),
  });
}

/** Why workerd cannot run here, or null when it can. */
export function workerdMissing(): string | null {
  return existsSync(WORKERD) ? null : `workerd is not installed (${WORKERD}); run npm ci`;
}

export async function startWorkerd(): Promise<ChildServer> {
  const missing = workerdMissing();
  if (missing !== null) throw new Error(missing);
  const dir = join(REFERENCE_SRC, 'workerd');
  // workerd cannot pick a free port itself: take one and hand it over (a lost race fails loudly).
  const port = await freeLoopbackPort();
  return startChildServer({
    label: 'workerd reference',
    command: WORKERD,
    args: ['serve', join(dir, 'config.capnp'), '--socket-addr', `http=127.0.0.1:${port}`],
    cwd: dir,
    ready: async (child) => {
      await waitForPort(port, START_TIMEOUT_MS, child.exited);
      return `http://127.0.0.1:${port}`;
    },
  });
}
