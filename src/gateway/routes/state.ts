/**
 * /v1/state/{key}: the state store over HTTP (management token, like every /v1 call).
 * `?tier=local` (default) is this node's local tier; `?tier=global` the global tier (Redis; on a
 * node without Redis, the local tier, which is then the only one). Values are raw bytes.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { TernError } from '../../core/errors.js';
import type { StateAdmin } from '../deps.js';

type StateRequest = { Params: { '*': string }; Querystring: { tier?: string } };

function isGlobal(tier: string | undefined): boolean {
  if (tier === undefined || tier === '' || tier === 'local') return false;
  if (tier === 'global') return true;
  throw new TernError('bad_request', `tier: "local" or "global", got "${tier}"`);
}

function sendValue(reply: FastifyReply, key: string, value: Buffer | undefined): FastifyReply {
  if (value === undefined) throw new TernError('not_found', `no state "${key}"`);
  return reply.code(200).type('application/octet-stream').send(value);
}

export function stateRoutes(app: FastifyInstance, state: StateAdmin): void {
  app.get('/v1/state', async () => state.info());

  app.get<StateRequest>('/v1/state/*', async (request, reply) => {
    const key = request.params['*'];
    return sendValue(reply, key, isGlobal(request.query.tier) ? await state.globalGet(key) : state.get(key));
  });

  app.put<StateRequest>('/v1/state/*', async (request, reply) => {
    const key = request.params['*'];
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    if (isGlobal(request.query.tier)) await state.globalSet(key, body);
    else state.set(key, body);
    return reply.code(204).send();
  });

  app.delete<StateRequest>('/v1/state/*', async (request, reply) => {
    const key = request.params['*'];
    const deleted = isGlobal(request.query.tier) ? await state.globalDelete(key) : state.delete(key);
    if (!deleted) throw new TernError('not_found', `no state "${key}"`);
    return reply.code(204).send();
  });
}
