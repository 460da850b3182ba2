/** /healthz, /system/info, /system/namespaces, /system/namespace/{ns}, /system/secrets. */
import { machine } from 'node:os';
import type { FastifyInstance } from 'fastify';
import type { OpenfaasContext } from './context.js';
import { httpError } from './http-errors.js';
import { DEFAULT_NAMESPACE } from './namespace.js';

const PROVIDER = 'tern';
/** Tern builds carry no commit id. */
const SHA = 'unknown';

export function systemRoutes(app: FastifyInstance, ctx: OpenfaasContext): void {
  // faasd's health handler answers 200 with no body; the gateway passes that on.
  app.get('/healthz', { config: { access: 'public' } }, async (_request, reply) => reply.code(200).send());

  // GatewayInfo wrapping the provider's ProviderInfo (gateway/handlers/infohandler.go).
  app.get('/system/info', async () => {
    const version = { sha: SHA, release: ctx.deps.version };
    return {
      provider: { provider: PROVIDER, version, orchestration: PROVIDER },
      version,
      arch: machine(),
    };
  });

  app.get('/system/namespaces', async () => {
    return [DEFAULT_NAMESPACE];
  });

  app.route({
    method: ['GET', 'POST', 'PUT', 'DELETE'],
    url: '/system/namespace/:namespace',
    handler: async () => {
      throw httpError(501, `Tern has one namespace (${DEFAULT_NAMESPACE}); namespaces cannot be created or changed`);
    },
  });

  // No OpenFaaS secrets here: the list is empty and creating one is not implemented.
  app.get('/system/secrets', async () => {
    return [];
  });
  app.route({
    method: ['POST', 'PUT', 'DELETE'],
    url: '/system/secrets',
    handler: async () => {
      throw httpError(501, 'secrets are not supported by Tern: pass configuration as envVars');
    },
  });
}
