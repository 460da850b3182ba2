/** /healthz, /v1/info, /v1/nodes, /metrics. */
import type { FastifyInstance } from 'fastify';
import type { GatewayDeps } from '../deps.js';
import type { IncomingHttpHeaders } from 'node:http';

export function nodeRoutes(
  app: FastifyInstance,
  deps: GatewayDeps,
  requireToken: (h: IncomingHttpHeaders) => void,
): void {
  app.get('/healthz', async (_request, reply) => reply.type('text/plain').send('ok'));

  app.get('/v1/info', async () => ({
    node: deps.nodeName,
    version: deps.version,
    runtimes: deps.runtimes(),
    capacity: deps.scheduler.capacity(),
    triggers: deps.triggers(),
  }));

  app.get('/v1/nodes', async () => ({ nodes: await deps.nodes() }));

  app.get('/metrics', async (request, reply) => {
    requireToken(request.headers);
    return reply.type(deps.metrics.contentType).send(await deps.metrics.render());
  });
}
