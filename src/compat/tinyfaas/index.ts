/**
 * The tinyFaaS profile: tinyFaaS's management API and its HTTP function endpoint on one listener,
 * on tinyFaaS's HTTP endpoint port 8000 (its management port, 8080, is Tern's own API port).
 * tinyFaaS's CoAP (5683) and gRPC endpoints are Tern's CoAP and gRPC triggers, always on.
 */
import type { FastifyError } from 'fastify';
import { isTernError } from '../../core/errors.js';
import type { CompatProfile } from '../compat.js';
import { invokeRoutes } from './invoke-routes.js';
import { managementRoutes } from './management-routes.js';

export const TINYFAAS_DEFAULT_PORT = 8000;

export const tinyfaasProfile: CompatProfile = {
  name: 'tinyfaas',
  defaultPort: TINYFAAS_DEFAULT_PORT,
  async register(app, deps) {
    // A scope of its own, so plain-text errors (as tinyFaaS answers) replace the node's JSON ones.
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
      managementRoutes(scope, deps);
      invokeRoutes(scope, deps);
    });
  },
};
