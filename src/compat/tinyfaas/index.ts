/**
 * The tinyFaaS profile: tinyFaaS's management API and its HTTP function endpoint. By default both
 * on one listener, on tinyFaaS's HTTP endpoint port 8000 (its management port, 8080, is Tern's own
 * API port). With `layout = "tinyfaas"`, tinyFaaS's exact layout: management on `management-port`
 * (8080), functions on `port` (8000), and the node's own API moved (src/config.ts), so tinyFaaS's
 * scripts and test suite run unchanged. tinyFaaS's CoAP (5683) and gRPC (9000) endpoints are Tern's
 * CoAP and gRPC triggers, always on.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import type { AddressInfo } from 'node:net';
import type { CompatProfileConfig } from '../../config.js';
import { TINYFAAS_MANAGEMENT_PORT } from '../../config.js';
import { isTernError } from '../../core/errors.js';
import type { CompatDeps, CompatListener, CompatProfile } from '../compat.js';
import { invokeRoutes } from './invoke-routes.js';
import { managementRoutes, type FunctionsEndpoint } from './management-routes.js';

export const TINYFAAS_DEFAULT_PORT = 8000;

type Routes = (scope: FastifyInstance) => void;

/** A scope of its own, so plain-text errors (as tinyFaaS answers) replace the node's JSON ones. */
async function plainTextScope(app: FastifyInstance, deps: CompatDeps, routes: Routes): Promise<void> {
  await app.register(async (scope) => {
    scope.setErrorHandler((err: FastifyError, request, reply) => {
      const ours = isTernError(err);
      const status = ours
        ? err.status
        : err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500
          ? err.statusCode
          : 500;
      if (!ours && status >= 500)
        deps.logger.error({ event: 'tinyfaas_error', err, url: request.url }, 'tinyFaaS API request failed');
      if (ours) void reply.headers(err.headers);
      return reply
        .code(status)
        .type('text/plain; charset=utf-8')
        .send(!ours && status >= 500 ? 'internal error' : err.message);
    });
    routes(scope);
  });
}

/** tinyFaaS's layout: management and functions on listeners of their own. */
function splitListeners(cfg: CompatProfileConfig): CompatListener[] {
  // The upload reply names the functions' listener, whose port is known once it listens.
  let functionsApp: FastifyInstance | undefined;
  const functionsPort: FunctionsEndpoint = () =>
    (functionsApp?.server.address() as AddressInfo | null | undefined)?.port;
  return [
    {
      role: 'management',
      port: cfg['management-port'] ?? TINYFAAS_MANAGEMENT_PORT,
      register: (app, deps) => {
        if (cfg['open-management'] !== true)
          deps.logger.warn(
            { event: 'tinyfaas_layout_token' },
            "tinyFaaS layout: management needs the node token, which tinyFaaS's scripts do not send; set [compat.tinyfaas] open-management = true to run them unchanged (on a trusted network only)",
          );
        return plainTextScope(app, deps, (scope) => managementRoutes(scope, deps, functionsPort));
      },
    },
    {
      port: cfg.port ?? TINYFAAS_DEFAULT_PORT,
      register: (app, deps) => {
        functionsApp = app;
        return plainTextScope(app, deps, (scope) => invokeRoutes(scope, deps));
      },
    },
  ];
}

export const tinyfaasProfile: CompatProfile = {
  name: 'tinyfaas',
  defaultPort: TINYFAAS_DEFAULT_PORT,
  listeners: (cfg) => (cfg.layout === 'tinyfaas' ? splitListeners(cfg) : undefined),
  register: (app, deps) =>
    plainTextScope(app, deps, (scope) => {
      managementRoutes(scope, deps);
      invokeRoutes(scope, deps);
    }),
};
