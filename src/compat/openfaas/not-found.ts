/**
 * Unmatched requests, as gorilla/mux answers them for the gateway: a known path with another
 * method gets a bare 405, anything else `404 page not found`. (The node's JSON 404 handler sits on
 * the root scope, so this is a catch-all route in the profile's own scope.)
 */
import type { FastifyInstance } from 'fastify';
import { splitUrl } from '../../http/headers.js';
import { sendText } from './http-errors.js';

const KNOWN_PATHS = new Set([
  '/healthz',
  '/system/info',
  '/system/functions',
  '/system/namespaces',
  '/system/logs',
  '/system/secrets',
]);
const KNOWN_PREFIXES = [
  '/function/',
  '/async-function/',
  '/system/function/',
  '/system/scale-function/',
  '/system/namespace/',
];

export function notFoundRoute(app: FastifyInstance): void {
  app.all('/*', { config: { access: 'public' } }, async (request, reply) => {
    const { path } = splitUrl(request.url);
    if (KNOWN_PATHS.has(path) || KNOWN_PREFIXES.some((p) => path.startsWith(p) && path.length > p.length))
      return reply.code(405).send();
    return sendText(reply, 404, '404 page not found\n');
  });
}
