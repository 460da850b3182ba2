/** /v1/calls/{id}: async call records (open: the id is the capability). */
import type { FastifyInstance } from 'fastify';
import { TernError } from '../../core/errors.js';
import type { GatewayDeps } from '../deps.js';

export function callRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get<{ Params: { id: string } }>('/v1/calls/:id', async (request) => {
    const record = deps.scheduler.call(request.params.id);
    if (!record) throw new TernError('not_found', `no call "${request.params.id}" (unknown or expired)`);
    return record;
  });
}
