/**
 * The HTTP trigger: `/fn/{name}[/path]` (sync) and `/async/fn/{name}[/path]` (async).
 * It shares the node's HTTP server with the management API and only translates HTTP <-> Invocation/Result.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TernError } from '../../core/errors.js';
import { createInvocation, type Invocation } from '../../core/invocation.js';
import type { Result } from '../../core/result.js';
import { HOP_BY_HOP, flattenHeaders, splitUrl } from '../../gateway/http-io.js';
import type { Registry } from '../../registry/registry.js';
import type { Scheduler } from '../../scheduler/types.js';

export interface HttpTriggerDeps {
  scheduler: Pick<Scheduler, 'invoke' | 'submit'>;
  registry: Pick<Registry, 'get'>;
  /** Checks the token for private functions; throws 401/403. */
  requireToken: (request: FastifyRequest) => void;
  bodyLimit: number;
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;

/** Build the invocation from "/fn/name/rest?query" (prefix = "/fn/" or "/async/fn/"). */
export function invocationFromRequest(request: FastifyRequest, prefix: string, trigger: Invocation['trigger']): Invocation {
  const { path, query } = splitUrl(request.url);
  const rest = path.slice(prefix.length);
  const slash = rest.indexOf('/');
  const name = slash === -1 ? rest : rest.slice(0, slash);
  const body = Buffer.isBuffer(request.body) ? request.body : undefined;
  return createInvocation({
    function: decodeURIComponent(name),
    method: request.method,
    path: slash === -1 ? '/' : rest.slice(slash),
    query,
    headers: flattenHeaders(request.headers),
    ...(body ? { body } : {}),
    trigger,
  });
}

export function sendResult(reply: FastifyReply, result: Result, callId?: string): FastifyReply {
  reply.code(result.status);
  for (const key in result.headers) {
    if (!HOP_BY_HOP.has(key)) reply.header(key, result.headers[key]);
  }
  reply.header('x-tern-report', JSON.stringify(result.report));
  // The call id ties the reply to the function's log lines (`tern logs`).
  if (callId) reply.header('x-tern-call-id', callId);
  return reply.send(result.body);
}

export function httpInvokeRoutes(app: FastifyInstance, deps: HttpTriggerDeps): void {
  const checkPrivate = (request: FastifyRequest, name: string) => {
    if (deps.registry.get(name)?.spec.private) deps.requireToken(request);
  };

  const sync = async (request: FastifyRequest, reply: FastifyReply) => {
    const inv = invocationFromRequest(request, '/fn/', 'http');
    checkPrivate(request, inv.function);
    return sendResult(reply, await deps.scheduler.invoke(inv), inv.id);
  };

  const async = async (request: FastifyRequest, reply: FastifyReply) => {
    const inv = invocationFromRequest(request, '/async/fn/', 'async');
    if (!deps.registry.get(inv.function)) throw new TernError('not_found', `no function "${inv.function}"`);
    checkPrivate(request, inv.function);
    const record = await deps.scheduler.submit(inv);
    return reply.code(202).header('location', `/v1/calls/${record.id}`).send({ id: record.id });
  };

  const opts = { bodyLimit: deps.bodyLimit };
  app.route({ method: [...METHODS], url: '/fn/:name', handler: sync, ...opts });
  app.route({ method: [...METHODS], url: '/fn/:name/*', handler: sync, ...opts });
  app.route({ method: [...METHODS], url: '/async/fn/:name', handler: async, ...opts });
  app.route({ method: [...METHODS], url: '/async/fn/:name/*', handler: async, ...opts });
}
