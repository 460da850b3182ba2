/**
 * The node's HTTP server: the native API of docs/api.md, the HTTP trigger, the dashboard and any
 * plugins (compat adapters, cluster routes) on one fastify instance.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { TokenAuth } from './auth.js';
import type { GatewayDeps } from './deps.js';
import { installErrorHandlers } from './errors.js';
import { callRoutes } from './routes/calls.js';
import { functionRoutes } from './routes/functions.js';
import { logRoutes } from './routes/logs.js';
import { nodeRoutes } from './routes/node.js';
import { stateRoutes } from './routes/state.js';
import { createFastPath, type RequestFilter } from '../triggers/http/fast-path.js';
import { HttpInvoker } from '../triggers/http/invoke.js';
import { httpInvokeRoutes } from '../triggers/http/routes.js';

/** Management calls need the token; `GET /v1/calls/{id}` is open (the id is the capability). */
function needsToken(method: string, url: string): boolean {
  if (!url.startsWith('/v1/')) return false;
  // Node-to-node routes (src/cluster/routes.ts) check the cluster secret instead.
  if (url.startsWith('/v1/cluster/')) return false;
  return !(method === 'GET' && /^\/v1\/calls\/[^/?]+(\?|$)/.test(url));
}

/** Path parameters (a function name) longer than this get the router's 414. */
const MAX_PARAM_LENGTH = 500;

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' ? value : fallback;
}

/**
 * The node:http server fastify would make itself (same timeouts), with `first` in front of
 * fastify's handler: the HTTP trigger's lean path takes the invocations it can answer.
 */
function serverWith(first: RequestFilter) {
  return (fastifyHandler: RequestListener, opts: Record<string, unknown>): Server => {
    const server = createServer((req, res) => {
      if (!first(req, res)) fastifyHandler(req, res);
    });
    server.keepAliveTimeout = numberOr(opts['keepAliveTimeout'], server.keepAliveTimeout);
    server.requestTimeout = numberOr(opts['requestTimeout'], server.requestTimeout);
    server.setTimeout(numberOr(opts['connectionTimeout'], 0));
    const perSocket = numberOr(opts['maxRequestsPerSocket'], 0);
    if (perSocket > 0) server.maxRequestsPerSocket = perSocket;
    return server;
  };
}

export async function buildServer(deps: GatewayDeps): Promise<FastifyInstance> {
  const auth = new TokenAuth(deps.token);
  const invoker = new HttpInvoker({
    scheduler: deps.scheduler,
    registry: deps.registry,
    requireToken: (headers) => auth.require(headers),
  });
  let closing = false;
  const fastPath = createFastPath(invoker, {
    bodyLimit: deps.limits.bodyBytes,
    maxNameLength: MAX_PARAM_LENGTH,
    closing: () => closing,
  });
  const app = Fastify({
    logger: false,
    exposeHeadRoutes: false,
    bodyLimit: deps.limits.bodyBytes,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { ignoreDuplicateSlashes: false, caseSensitive: true, maxParamLength: MAX_PARAM_LENGTH },
    serverFactory: serverWith(fastPath),
  });
  // fastify starts answering 503 here; from then on the lean path leaves every request to it.
  app.addHook('preClose', async () => {
    closing = true;
  });

  // Bodies reach functions and the registry as raw bytes, whatever their type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  installErrorHandlers(app);
  app.addHook('onRequest', async (request) => {
    if (needsToken(request.method, request.url)) auth.require(request.headers);
  });

  nodeRoutes(app, deps, (h) => auth.require(h));
  functionRoutes(app, deps);
  callRoutes(app, deps);
  logRoutes(app, deps);
  if (deps.state) stateRoutes(app, deps.state);
  httpInvokeRoutes(app, invoker, deps.limits.bodyBytes);

  if (deps.uiDir) {
    await app.register(fastifyStatic, { root: deps.uiDir, prefix: '/ui/', index: 'index.html', cacheControl: false });
    app.get('/ui', async (_request, reply) => reply.redirect('/ui/'));
  }
  for (const plugin of deps.plugins ?? []) await plugin(app);
  return app;
}
