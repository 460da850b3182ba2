/**
 * The HTTP trigger: the node's HTTP port. With edge loops (src/loops/) they accept on it, run
 * calls on leased instances and hand everything else to the control loop's own server (the native
 * API, the dashboard, the fastify invocation routes) over its private socket; with none, that
 * server listens on the port itself.
 */
import type { FastifyInstance } from 'fastify';
import { guardConnections, type ConnectionLimits } from '../../http/connections.js';
import type { Trigger } from '../trigger.js';

/**
 * What the trigger needs of the edge loops (src/loops/fleet.ts's LoopFleet): declared here so the
 * trigger does not depend on the loops, which run its fast path (fast-path.ts) on their threads.
 */
export interface EdgeLoops {
  /** The control loop's server listens on this unix socket; the loops proxy to it. */
  readonly apiSocket: string;
  /** Bind the port on every loop; resolves to the bound port. */
  listen(host: string, port: number): Promise<number>;
  /** Stop accepting; calls in flight go on. */
  quiesce(): Promise<void>;
  /** Drop the connections left open (called once every call has its answer). */
  closeConnections(): Promise<void>;
}

export interface HttpTriggerOptions {
  host: string;
  port: number;
  /** The control loop's server (src/gateway/server.ts). */
  api: FastifyInstance;
  loops: EdgeLoops | undefined;
  /** Bounds on the port's connections (with loops, each loop enforces them itself). */
  connections: { table: SharedArrayBuffer; limits: ConnectionLimits };
}

export interface HttpTrigger extends Trigger {
  /** The bound URL (known once started). */
  url(): string;
}

export function createHttpTrigger(o: HttpTriggerOptions): HttpTrigger {
  let url = `http://${o.host}:${o.port}`;
  let closing: Promise<void> | undefined;
  return {
    name: 'http',
    url: () => url,
    address: () => url,
    async start() {
      let port: number;
      if (o.loops !== undefined) {
        // The control loop's server first: the loops hand it requests from their first connection on.
        await o.api.listen({ path: o.loops.apiSocket });
        port = await o.loops.listen(o.host, o.port);
      } else {
        guardConnections(o.api.server, o.connections.table, o.connections.limits);
        await o.api.listen({ host: o.host, port: o.port });
        const address = o.api.server.address();
        port = typeof address === 'object' && address ? address.port : o.port;
      }
      url = `http://${o.host}:${port}`;
    },
    async stop() {
      // fastify answers 503 from here on; the loops stop accepting and send what comes to it.
      closing = o.api.close();
      await o.loops?.quiesce();
    },
    async close() {
      await o.loops?.closeConnections();
      // Every call has its answer now; kept-alive connections would otherwise hold the server open.
      o.api.server.closeAllConnections();
      await closing;
    },
  };
}
