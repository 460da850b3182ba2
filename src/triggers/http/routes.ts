/**
 * The HTTP trigger on fastify: `/fn/{name}[/path]` (sync) and `/async/fn/{name}[/path]` (async).
 * Most calls never get here: the lean path (fast-path.ts) answers them first. These routes take
 * the rest — percent-encoded paths, unusual content types, a closing server — so fastify's router
 * and body parsing decide those exactly as before.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { sendResult } from '../../http/reply.js';
import {
  ASYNC_PREFIX,
  type HttpInvoker,
  METHODS,
  SYNC_PREFIX,
  invocationFrom,
  type HttpRequestParts,
} from './invoke.js';

export type { HttpTriggerDeps } from './invoke.js';

function parts(request: FastifyRequest): HttpRequestParts {
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    body: Buffer.isBuffer(request.body) ? request.body : undefined,
    authenticated: request.authenticated,
  };
}

export function httpInvokeRoutes(app: FastifyInstance, invoker: HttpInvoker, bodyLimit: number): void {
  const sync = async (request: FastifyRequest, reply: FastifyReply) => {
    const inv = invocationFrom(parts(request), SYNC_PREFIX, 'http');
    return sendResult(reply, await invoker.sync(inv), inv.id);
  };

  const async = async (request: FastifyRequest, reply: FastifyReply) => {
    const inv = invocationFrom(parts(request), ASYNC_PREFIX, 'async');
    const record = await invoker.submit(inv);
    return reply.code(202).header('location', `/v1/calls/${record.id}`).send({ id: record.id });
  };

  const opts = { bodyLimit, config: { access: 'public' as const } };
  app.route({ method: [...METHODS], url: `${SYNC_PREFIX}:name`, handler: sync, ...opts });
  app.route({ method: [...METHODS], url: `${SYNC_PREFIX}:name/*`, handler: sync, ...opts });
  app.route({ method: [...METHODS], url: `${ASYNC_PREFIX}:name`, handler: async, ...opts });
  app.route({ method: [...METHODS], url: `${ASYNC_PREFIX}:name/*`, handler: async, ...opts });
}
