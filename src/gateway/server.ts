/**
 * The node's HTTP server: the native API of docs/api.md, the HTTP trigger, the dashboard and any
 * plugins (compat adapters, cluster routes) on one fastify instance.
 */
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { TokenAuth } from './auth.js';
import type { GatewayDeps } from './deps.js';
import { installErrorHandlers } from './errors.js';
import { callRoutes } from './routes/calls.js';
import { functionRoutes } from './routes/functions.js';
import { logRoutes } from './routes/logs.js';
import { nodeRoutes } from './routes/node.js';
import { httpInvokeRoutes } from '../triggers/http/routes.js';

/** Management calls need the token; `GET /v1/calls/{id}` is open (the id is the capability). */
function needsToken(method: string, url: string): boolean {
  if (!url.startsWith('/v1/')) return false;
  // Node-to-node routes (src/cluster/routes.ts) check the cluster secret instead.
  if (url.startsWith('/v1/cluster/')) return false;
  return !(method === 'GET' && /^\/v1\/calls\/[^/?]+(\?|$)/.test(url));
}

export async function buildServer(deps: GatewayDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    exposeHeadRoutes: false,
    bodyLimit: deps.limits.bodyBytes,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    caseSensitive: true,
    maxParamLength: 500,
    routerOptions: { ignoreDuplicateSlashes: false },
  });
  const auth = new TokenAuth(deps.token);

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
  httpInvokeRoutes(app, {
    scheduler: deps.scheduler,
    registry: deps.registry,
    requireToken: (request) => auth.require(request.headers),
    bodyLimit: deps.limits.bodyBytes,
  });

  if (deps.uiDir) {
    await app.register(fastifyStatic, { root: deps.uiDir, prefix: '/ui/', index: 'index.html', cacheControl: false });
    app.get('/ui', async (_request, reply) => reply.redirect('/ui/'));
  }
  for (const plugin of deps.plugins ?? []) await plugin(app);
  return app;
}
