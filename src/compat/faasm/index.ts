/**
 * The Faasm profile: Faasm's upload server (PUT /f/<user>/<function>, port 8002) and its JSON
 * invocation endpoint (POST a message) on one listener, on the upload server's port 8002 (Faasm's
 * invocation port, 8080, is Tern's own API port). Functions must be WASI command modules: see
 * docs/compat.md.
 */
import type { FastifyError } from 'fastify';
import { isTernError } from '../../core/errors.js';
import type { CompatProfile } from '../compat.js';
import { invokeRoutes } from './invoke-routes.js';
import { sendText, uploadRoutes } from './upload-routes.js';

export const FAASM_DEFAULT_PORT = 8002;

export const faasmProfile: CompatProfile = {
  name: 'faasm',
  defaultPort: FAASM_DEFAULT_PORT,
  // Uploads (and reading modules back) manage code; invocations stay open.
  async register(app, deps) {
    // A scope of its own, so text/plain errors (as Faasm's servers answer) replace the node's JSON ones.
    await app.register(async (scope) => {
      scope.setErrorHandler((err: FastifyError, request, reply) => {
        if (isTernError(err)) {
          void reply.headers(err.headers);
          return sendText(reply, err.status, `${err.message}\n`);
        }
        const status =
          err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
        if (status === 500)
          deps.logger.error({ event: 'faasm_error', err, url: request.url }, 'Faasm API request failed');
        return sendText(reply, status, status === 500 ? 'internal error\n' : `${err.message}\n`);
      });
      uploadRoutes(scope, deps);
      invokeRoutes(scope, deps);
      // As Faasm's upload server answers a path it does not know.
      scope.route({
        method: ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
        url: '/*',
        config: { access: 'public' },
        handler: async (request, reply) =>
          sendText(reply, 400, `Unrecognised ${request.method} request to ${request.url.split('?')[0]}\n`),
      });
    });
  },
};
