/** /v1/calls: recent calls of a function (management) and async call records (the id is the capability). */
import type { FastifyInstance } from 'fastify';
import { TernError } from '../../core/errors.js';
import type { GatewayDeps } from '../deps.js';

export function callRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get<{ Querystring: { function?: string; limit?: string } }>('/v1/calls', async (request) => {
    const fn = request.query.function;
    if (!fn) throw new TernError('bad_request', 'function: required (GET /v1/calls?function=NAME&limit=N)');
    if (!deps.registry.get(fn)) throw new TernError('not_found', `no function "${fn}"`);
    const limit = request.query.limit === undefined ? 20 : Number(request.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 100)
      throw new TernError('bad_request', `limit: must be an integer 1..100, got "${request.query.limit}"`);
    return { calls: await deps.recentCalls(fn, limit) };
  });

  // Public: the id (128 random bits) is the capability; a private function's record needs the token too.
  app.get<{ Params: { id: string } }>('/v1/calls/:id', { config: { access: 'public' } }, async (request) => {
    const record = deps.scheduler.call(request.params.id, request.authenticated);
    if (!record) throw new TernError('not_found', `no call "${request.params.id}" (unknown or expired)`);
    return record;
  });
}
