/**
 * The node's HTTP server: the native API of docs/api.md, the HTTP trigger, the dashboard and any
 * plugins (compat adapters, cluster routes) on one fastify instance.
 */
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import { installAccessControl, withAccess } from '../http/access.js';
import { NodeCredentials } from '../http/credentials.js';
import type { GatewayDeps } from './deps.js';
import { installErrorHandlers } from '../http/errors.js';
import { edgeServerFactory } from '../http/listener.js';
import { callRoutes } from './routes/calls.js';
import { functionRoutes } from './routes/functions.js';
import { logRoutes } from './routes/logs.js';
import { nodeRoutes } from './routes/node.js';
import { stateRoutes } from './routes/state.js';
import { createFastPath } from '../triggers/http/fast-path.js';
import { HttpInvoker } from '../triggers/http/invoke.js';
import { httpInvokeRoutes } from '../triggers/http/routes.js';

/** Path parameters (a function name) longer than this get the router's 414. */
const DEFAULT_MAX_PARAM_LENGTH = 500;

export async function buildServer(deps: GatewayDeps): Promise<FastifyInstance> {
  const maxParamLength = deps.maxParamLength ?? DEFAULT_MAX_PARAM_LENGTH;
  const credentials = new NodeCredentials(deps.token);
  const invoker = new HttpInvoker({ scheduler: deps.scheduler });
  let closing = false;
  const fastPath = createFastPath(invoker, {
    bodyLimit: deps.limits.bodyBytes,
    maxNameLength: maxParamLength,
    closing: () => closing,
    credentials,
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  const app = Fastify({
    logger: false,
    exposeHeadRoutes: false,
    bodyLimit: deps.limits.bodyBytes,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    routerOptions: { ignoreDuplicateSlashes: false, caseSensitive: true, maxParamLength },
    serverFactory: edgeServerFactory(fastPath),
  });
  // fastify starts answering 503 here; from then on the lean path leaves every request to it.
  app.addHook('preClose', async () => {
    closing = true;
  });

  // Bodies reach functions and the registry as raw bytes, whatever their type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  installErrorHandlers(app, deps.logger);
  installAccessControl(app, { credentials });
  if (deps.behindLoops) {
    app.addHook('onSend', (_request, reply, payload, done) => {
      if (reply.getHeader('connection') === 'close') reply.removeHeader('connection');
      done(null, payload);
    });
  }

  nodeRoutes(app, deps);
  functionRoutes(app, deps);
  callRoutes(app, deps);
  logRoutes(app, deps);
  if (deps.state) stateRoutes(app, deps.state);
  httpInvokeRoutes(app, invoker, deps.limits.bodyBytes);

  const uiDir = deps.uiDir;
  if (uiDir !== undefined) {
    // The dashboard's files are public: it asks for the token itself and sends it with each API call.
    await withAccess(app, 'public', async (scope) => {
      await scope.register(fastifyStatic, { root: uiDir, prefix: '/ui/', index: 'index.html', cacheControl: false });
      scope.get('/ui', async (_request, reply) => reply.redirect('/ui/'));
      // The node's address opened in a browser shows the dashboard.
      scope.get('/', async (_request, reply) => reply.redirect('/ui/'));
    });
  }
  for (const plugin of deps.plugins ?? []) await plugin(app);
  return app;
}
