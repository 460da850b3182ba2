/**
 * /function/{name}[/path] (sync) and /async-function/{name}[/path] (async), open like the gateway's.
 * The remaining path, query, headers and body reach the function; its response comes back with the
 * gateway's X-Call-Id / X-Start-Time and Tern's X-Tern-Report. Async calls answer 202 at once; with
 * X-Callback-Url the result is POSTed there when done (see callback.ts), else the call is recorded
 * and, when X-Call-Id was not given, pollable at the native API's /v1/calls/{X-Call-Id}.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createInvocation, newCallId, type Invocation } from '../../core/invocation.js';
import type { Result } from '../../core/result.js';
import { HOP_BY_HOP, callerHeaders, splitUrl } from '../../http/headers.js';
import type { DeployedFunction } from '../../registry/registry.js';
import { postCallback } from './callback.js';
import type { OpenfaasContext } from './context.js';
import { OpenfaasError, httpError } from './http-errors.js';
import { DEFAULT_NAMESPACE, splitQualifiedName } from './namespace.js';

/** What faas-provider's proxy forwards; others get 405. */
export const INVOKE_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'] as const;
/** Async calls whose callback is not posted yet; past this the gateway answers 429. */
export const MAX_PENDING_CALLBACKS = 1000;

interface Target {
  name: string;
  path: string;
  query: string;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw httpError(400, `bad function name in the path: ${segment}`);
  }
}

/** "/function/name.ns/rest?q" -> name, "/rest", "q". */
function targetOf(url: string, prefix: string): Target & { namespace: string } {
  const { path, query } = splitUrl(url);
  const rest = path.slice(prefix.length);
  const slash = rest.indexOf('/');
  const { name, namespace } = splitQualifiedName(decode(slash === -1 ? rest : rest.slice(0, slash)));
  return { name, namespace, path: slash === -1 ? '/' : rest.slice(slash), query };
}

/** Unix time in nanoseconds, as the gateway's X-Start-Time. */
function startTime(): string {
  return (BigInt(Date.now()) * 1_000_000n).toString();
}

const PUBLIC = { access: 'public' } as const;

/** The invocation as faas-provider's proxy builds the upstream request: call id, start time, forwarded headers. */
function invocation(
  request: FastifyRequest,
  target: Target,
  method: string,
): { inv: Invocation; callId: string; started: string } {
  const headers = callerHeaders(request.headers, request.authenticated);
  const id = newCallId();
  const callId = headers['x-call-id'] || id;
  const started = startTime();
  headers['x-call-id'] = callId;
  headers['x-start-time'] = started;
  headers['x-forwarded-host'] ??= headers.host ?? '';
  headers['x-forwarded-for'] ??= `${request.socket.remoteAddress ?? ''}:${request.socket.remotePort ?? ''}`;
  const body = Buffer.isBuffer(request.body) ? request.body : undefined;
  const inv = createInvocation({
    id,
    function: target.name,
    method,
    path: target.path,
    query: target.query,
    headers,
    ...(body ? { body } : {}),
    trigger: 'compat',
    authenticated: request.authenticated,
  });
  return { inv, callId, started };
}

function reply(res: FastifyReply, result: Result, requestType: string | undefined): FastifyReply {
  res.code(result.status);
  for (const key in result.headers) {
    if (!HOP_BY_HOP.has(key)) res.header(key, result.headers[key]);
  }
  // faas-provider's proxy: the function's Content-Type, else the request's, else text/plain.
  res.header('content-type', result.headers['content-type'] || requestType || 'text/plain');
  res.header('x-tern-report', JSON.stringify(result.report));
  return res.send(result.body);
}

export function invokeRoutes(app: FastifyInstance, ctx: OpenfaasContext): void {
  const { registry, scheduler } = ctx.deps;
  let pendingCallbacks = 0;

  const lookup = (request: FastifyRequest, prefix: string): { fn: DeployedFunction; target: Target } => {
    const t = targetOf(request.url, prefix);
    const fn = t.namespace === DEFAULT_NAMESPACE ? registry.get(t.name) : undefined;
    // The gateway's scale-from-zero lookup answers an unknown function so (gateway/handlers/scaling.go).
    if (!fn) throw new OpenfaasError(404, `error finding function ${t.name}.${t.namespace}: not found`);
    return { fn, target: t };
  };

  const sync = async (request: FastifyRequest, res: FastifyReply) => {
    const { target } = lookup(request, '/function/');
    const { inv, callId, started } = invocation(request, target, request.method);
    const result = await scheduler.invoke(inv);
    res.header('x-call-id', callId).header('x-start-time', started);
    return reply(res, result, request.headers['content-type']);
  };

  const async = async (request: FastifyRequest, res: FastifyReply) => {
    const { fn, target } = lookup(request, '/async-function/');
    const callbackUrl = parseCallbackUrl(request.headers['x-callback-url']);
    // The queue worker always POSTs the queued request to the function.
    const { inv, callId, started } = invocation(request, target, 'POST');
    if (callbackUrl === undefined) {
      await scheduler.submit(inv);
    } else {
      if (pendingCallbacks >= MAX_PENDING_CALLBACKS)
        throw httpError(429, 'too many asynchronous calls waiting for their callback', { 'retry-after': '1' });
      pendingCallbacks++;
      const t0 = performance.now();
      void scheduler
        .invoke(inv)
        .then((result) =>
          postCallback(
            { url: callbackUrl, callId, functionName: fn.spec.name, result, seconds: (performance.now() - t0) / 1000 },
            ctx.deps.logger,
          ),
        )
        .finally(() => pendingCallbacks--);
    }
    return res.code(202).header('x-call-id', callId).header('x-start-time', started).send();
  };

  const bodyLimit = ctx.deps.limits.bodyBytes;
  app.route({ method: [...INVOKE_METHODS], url: '/function/:name', handler: sync, bodyLimit, config: PUBLIC });
  app.route({ method: [...INVOKE_METHODS], url: '/function/:name/*', handler: sync, bodyLimit, config: PUBLIC });
  app.route({ method: 'POST', url: '/async-function/:name', handler: async, bodyLimit, config: PUBLIC });
  app.route({ method: 'POST', url: '/async-function/:name/*', handler: async, bodyLimit, config: PUBLIC });
}

/** X-Callback-Url, if given: an absolute http(s) URL, else 400. */
export function parseCallbackUrl(value: string | string[] | undefined): URL | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text === '') return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw httpError(400, `X-Callback-Url: ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw httpError(400, `X-Callback-Url: only http and https callbacks are supported, not ${url.protocol}`);
  return url;
}
