/** /healthz, /v1/info, /v1/nodes, /metrics. */
import type { FastifyInstance } from 'fastify';
import type { GatewayDeps } from '../deps.js';

export function nodeRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get('/healthz', { config: { access: 'public' } }, async (_request, reply) => reply.type('text/plain').send('ok'));

  app.get('/v1/info', async () => ({
    node: deps.nodeName,
    version: deps.version,
    runtimes: deps.runtimes(),
    capacity: deps.scheduler.capacity(),
    triggers: deps.triggers(),
    ...(deps.triggerStatus ? { triggerStatus: deps.triggerStatus() } : {}),
  }));

  app.get('/v1/nodes', async () => ({ nodes: await deps.nodes() }));

  app.get('/metrics', async (_request, reply) => {
    return reply.type(deps.metrics.contentType).send(await deps.metrics.render());
  });
}
