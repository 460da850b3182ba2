/**
 * UniFaaS's invocation path (OpenFogStack/unikernel-edge-faas src/proxy.rs):
 * `/invoke/{function}/{path}` reaches the function with `/{path}` and the query. UniFaaS routes GET
 * and one path segment only; Tern passes any method and deeper paths, and `/invoke/{function}` as "/".
 * Errors answer as UniFaaS does, `error: <message>` in plain text, with Tern's status code.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isTernError } from '../../core/errors.js';
import { createInvocation } from '../../core/invocation.js';
import type { Result } from '../../core/result.js';
import { HOP_BY_HOP, decodeSegment, callerHeaders, splitUrl } from '../../http/headers.js';
import type { CompatDeps } from '../compat.js';
import { keepRefusalHeaders } from '../shared/refusal.js';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;
const PREFIX = '/invoke/';

function errorText(
  reply: FastifyReply,
  status: number,
  message: string,
  headers: Record<string, string> = {},
): FastifyReply {
  return reply
    .code(status)
    .headers(headers)
    .header('content-type', 'text/plain; charset=utf-8')
    .send(`error: ${message}`);
}

/** The message inside a Tern error result's JSON body, for UniFaaS's text errors. */
function errorMessage(result: Result): string {
  try {
    const parsed: unknown = JSON.parse(result.body.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'error' in parsed) {
      const err = (parsed as { error: unknown }).error;
      if (typeof err === 'object' && err !== null && 'message' in err && typeof err.message === 'string')
        return err.message;
    }
  } catch {
    // Not JSON: fall through to the code.
  }
  return result.report.error ?? 'failed';
}

const PUBLIC = { access: 'public' } as const;

export function unifaasRoutes(app: FastifyInstance, deps: CompatDeps): void {
  const invoke = async (request: FastifyRequest, reply: FastifyReply) => {
    const { path, query } = splitUrl(request.url);
    const rest = path.slice(PREFIX.length);
    const slash = rest.indexOf('/');
    const name = decodeSegment(slash === -1 ? rest : rest.slice(0, slash));
    const fn = name === undefined ? undefined : deps.registry.get(name);
    if (!fn || name === undefined) return errorText(reply, 404, `no function ${JSON.stringify(name ?? rest)}`);
    const body = Buffer.isBuffer(request.body) ? request.body : undefined;
    const inv = createInvocation({
      function: name,
      method: request.method,
      path: slash === -1 ? '/' : rest.slice(slash),
      query,
      headers: callerHeaders(request.headers, request.authenticated),
      ...(body ? { body } : {}),
      trigger: 'compat',
      authenticated: request.authenticated,
    });
    const result = await deps.scheduler.invoke(inv);
    reply.header('x-tern-report', JSON.stringify(result.report));
    if (result.report.error !== undefined) {
      keepRefusalHeaders(reply, result);
      return errorText(reply, result.status, errorMessage(result));
    }
    reply.code(result.status);
    for (const key in result.headers) {
      if (!HOP_BY_HOP.has(key)) reply.header(key, result.headers[key]);
    }
    return reply.send(result.body);
  };

  app.route({
    method: [...METHODS],
    url: '/invoke/:fn',
    handler: invoke,
    bodyLimit: deps.limits.bodyBytes,
    config: PUBLIC,
  });
  app.route({
    method: [...METHODS],
    url: '/invoke/:fn/*',
    handler: invoke,
    bodyLimit: deps.limits.bodyBytes,
    config: PUBLIC,
  });
}

/** Errors of the profile's scope (auth, body too large) in UniFaaS's text form. */
export function installUnifaasErrors(app: FastifyInstance, log: (err: unknown) => void): void {
  app.setErrorHandler((err: Error & { statusCode?: number }, _request, reply) => {
    if (isTernError(err)) return errorText(reply, err.status, err.message, err.headers);
    const status = err.statusCode ?? 500;
    if (status >= 500) {
      log(err);
      return errorText(reply, 500, 'internal error');
    }
    return errorText(reply, status, err.message);
  });
}
