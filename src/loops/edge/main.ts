/**
 * An edge loop: a worker thread that serves the node's HTTP port beside its siblings (they accept
 * on one shared listening socket) and hosts instances. Invocations run here on leased instances;
 * everything else goes to the control loop — a call without a lease as a message, any other
 * request as HTTP over the control loop's private socket.
 */
import { createServer, type Server } from 'node:http';
import { workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { NodeConfig } from '../../config.js';
import { guardConnections, type ConnectionLimits } from '../../http/connections.js';
import { NodeCredentials } from '../../http/credentials.js';
import { normaliseTarget } from '../../http/listener.js';
import { proxyTo } from '../../http/proxy.js';
import { createNodeLogger } from '../../observability/logger.js';
import { LeaseCounterCells } from '../../pool/leases.js';
import type { RuntimeName } from '../../registry/spec.js';
import { createRuntimes } from '../../runtimes/index.js';
import type { Runtime } from '../../runtimes/runtime.js';
import { createFastPath } from '../../triggers/http/fast-path.js';
import { HttpInvoker } from '../../triggers/http/invoke.js';
import { Channel } from '../channel.js';
import type { ControlApi, EdgeApi } from '../protocol.js';
import { invocationFromWire, responseToWire } from '../wire.js';
import { EdgeCalls } from './calls.js';
import { remoteHostOps } from './host.js';
import { EdgeInstances } from './instances.js';
import { EdgeObserver, LogBatcher } from './observer.js';

export interface EdgeInit {
  loop: number;
  config: NodeConfig;
  token: string;
  scratchDir: string;
  /** The control loop's private HTTP socket (unix). */
  apiSocket: string;
  /** pool/leases.ts LeaseCounters.buffer */
  counters: SharedArrayBuffer;
  port: MessagePort;
  /** Longest function name the router takes (longer ones get its 414). */
  maxNameLength: number;
  /** Bounds on the port's connections, counted with the other loops (http/connections.ts). */
  connections: { table: SharedArrayBuffer; limits: ConnectionLimits };
}

const init = workerData as EdgeInit;
const { config } = init;
const logger = createNodeLogger(config.logLevel, config.node).child({ loop: init.loop });
const channel = new Channel<EdgeApi, ControlApi>(init.port);
const logs = new LogBatcher((lines) => channel.notify('logs', { lines }));
const host = remoteHostOps((request) => channel.call('hostOp', request));
const runtimes = new Map<RuntimeName, Runtime>(
  createRuntimes(
    {
      dataDir: config.dataDir,
      scratchDir: init.scratchDir,
      logger,
      hostOps: host.opsFor,
      // The loops share the machine's cores between them.
      coreShare: 1 / config.http.loops,
    },
    config,
  ).map((r) => [r.name, r]),
);
const instances = new EdgeInstances(runtimes, init.scratchDir, logs.sink, (instance, reason) =>
  channel.notify('exited', { instance, reason }),
);
const observer = new EdgeObserver(logger);
let draining = false;
let server: Server | undefined;

const calls = new EdgeCalls({
  nodeName: config.node,
  channel,
  loop: init.loop,
  instances,
  cells: new LeaseCounterCells(init.counters),
  observer,
  usedHost: (callId) => host.used(callId),
});

channel.serve({
  start: ({ fn, runtime, instance }) => instances.start(fn, runtime, instance),
  call: async ({ instance, inv }) => {
    const abort = new AbortController();
    const running = instances.require(instance);
    return responseToWire(await running.call(invocationFromWire(inv), abort.signal));
  },
  stop: ({ instance }) => instances.stop(instance),
  kill: ({ instance }) => instances.kill(instance),
  release: ({ fn }) => instances.release(fn),
  revoke: ({ instance }) => calls.revoke(instance),
  listen: (a) => listen(a),
  quiesce: async () => {
    draining = true;
    // The loops share one descriptor (Node cannot dup it): the first loop, which bound it, closes
    // it for all; a second close of the same number could hit whatever file took it since.
    if (init.loop === 1) server?.close();
  },
  closeConnections: async () => {
    server?.closeAllConnections();
  },
  close: () => close(),
  collectStats: async () => observer.stats.snapshot(),
  recentCalls: async ({ fn, limit }) => observer.recent.list(fn, limit),
  callCounts: async () => observer.recent.counts(),
});

function handler(): Parameters<typeof createServer>[1] {
  const fast = createFastPath(new HttpInvoker({ scheduler: calls }), {
    bodyLimit: config.limits.bodyBytes,
    maxNameLength: init.maxNameLength,
    closing: () => draining,
    credentials: new NodeCredentials(init.token),
  });
  const proxy = proxyTo(init.apiSocket);
  return (req, res) => {
    if (!normaliseTarget(req, res)) return;
    if (!fast(req, res)) proxy(req, res);
  };
}

/** The first loop binds the port (fd -1) and reports the socket; the others accept on that socket. */
async function listen(a: { fd: number; host: string; port: number }): Promise<void> {
  const s = createServer(handler());
  // fastify's defaults, as the control loop's own server uses them.
  s.keepAliveTimeout = 72_000;
  guardConnections(s, init.connections.table, init.connections.limits);
  server = s;
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    if (a.fd === -1) s.listen({ host: a.host, port: a.port }, resolve);
    else s.listen({ fd: a.fd }, resolve);
  });
  if (a.fd === -1) {
    const address = s.address();
    // Node has no public accessor for a server's descriptor; the siblings need it to share the socket.
    const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
    channel.notify('bound', { port: typeof address === 'object' && address ? address.port : a.port, fd });
  }
}

async function close(): Promise<void> {
  calls.returnAll();
  server?.closeAllConnections();
  await instances.close();
  logs.flush();
}

// A loop's end would close the listening socket every loop shares (fleet.ts): a bug in one request
// is logged and that request fails, but the loop goes on serving the others.
process.on('uncaughtException', (e) => logger.error({ event: 'loop_error', err: e }, 'edge loop: uncaught exception'));
process.on('unhandledRejection', (e) =>
  logger.error({ event: 'loop_error', err: e }, 'edge loop: unhandled promise rejection'),
);

logger.debug({ event: 'loop_started', loop: init.loop }, `edge loop ${init.loop} up`);
