/**
 * tinyFaaS's HTTP endpoint (OpenFogStack/tinyFaaS pkg/http/http.go): any request to /<name> calls
 * the function with its body and headers; "X-tinyFaaS-Async: <anything>" answers 202 at once and
 * runs the call in the background. The reply carries the call's status, headers and body.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createInvocation } from '../../core/invocation.js';
import { decodeSegment, callerHeaders, splitUrl } from '../../http/headers.js';
import { sendResult } from '../../http/reply.js';
import type { CompatDeps } from '../compat.js';

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;
const ASYNC_HEADER = 'x-tinyfaas-async';

export function invokeRoutes(app: FastifyInstance, deps: CompatDeps): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const { path, query } = splitUrl(request.url);
    const rest = path.replace(/^\/+/, '');
    const slash = rest.indexOf('/');
    const name = decodeSegment(slash === -1 ? rest : rest.slice(0, slash));
    const fn = name === undefined ? undefined : deps.registry.get(name);
    if (!fn || name === undefined)
      return reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .send(`function ${name ?? rest} not found`);
    const inv = createInvocation({
      function: name,
      method: request.method,
      path: slash === -1 ? '/' : rest.slice(slash),
      query,
      headers: callerHeaders(request.headers, request.authenticated),
      ...(Buffer.isBuffer(request.body) ? { body: request.body } : {}),
      trigger: 'compat',
      authenticated: request.authenticated,
    });
    const asyncValue = request.headers[ASYNC_HEADER];
    if (typeof asyncValue === 'string' && asyncValue !== '') {
      await deps.scheduler.submit(inv);
      return reply.code(202).send('');
    }
    return sendResult(reply, await deps.scheduler.invoke(inv));
  };

  const opts = { bodyLimit: deps.limits.bodyBytes, config: { access: 'public' as const } };
  // "/" names no function: tinyFaaS's proxy answers 404.
  app.route({
    method: [...METHODS],
    url: '/',
    config: { access: 'public' },
    handler: async (_request, reply) => reply.code(404).type('text/plain; charset=utf-8').send('no function named'),
  });
  app.route({ method: [...METHODS], url: '/:name', handler, ...opts });
  app.route({ method: [...METHODS], url: '/:name/*', handler, ...opts });
}
