/**
 * The OpenFaaS profile: the gateway/provider API as faasd serves it, so `faas-cli` (deploy, list,
 * describe, scale, remove, logs, invoke, store-less workflows) drives a Tern node unchanged.
 * See docs/compat.md#openfaas for the mapping of images, replicas and namespaces.
 */
import { join } from 'node:path';
import type { CompatProfile } from '../compat.js';
import type { OpenfaasContext } from './context.js';
import { functionRoutes } from './functions-routes.js';
import { installOpenfaasErrors, OpenfaasError } from './http-errors.js';
import { invokeRoutes } from './invoke-routes.js';
import { KeyedSerial } from '../../core/keyed-serial.js';
import { logsRoute } from './logs-route.js';
import { MetaCache } from './metadata.js';
import { notFoundRoute } from './not-found.js';
import { systemRoutes } from './system-routes.js';

/** faasd's provider port (the gateway's 8080 is Tern's own HTTP port by default). */
export const OPENFAAS_DEFAULT_PORT = 8081;
const DEFAULT_UNPACKED_BYTES = 256 * 1024 * 1024;
const DEFAULT_FILES = 10_000;

export interface OpenfaasOptions {
  /** Folder of named images; default `<data>/images`. */
  imagesDir?: string;
  /** Base of relative image paths; default the node's working folder. */
  cwd?: string;
}

export function createOpenfaasProfile(options: OpenfaasOptions = {}): CompatProfile {
  return {
    name: 'openfaas',
    defaultPort: OPENFAAS_DEFAULT_PORT,
    // As faas-provider answers: user `admin`, password the node token (a Bearer token works too).
    denied: () => new OpenfaasError(401, 'invalid credentials', { 'www-authenticate': 'Basic realm="Restricted"' }),
    async register(app, deps) {
      const imagesDir = options.imagesDir ?? (deps.dataDir !== undefined ? join(deps.dataDir, 'images') : undefined);
      const ctx: OpenfaasContext = {
        deps,
        lock: new KeyedSerial(),
        meta: new MetaCache(),
        images: {
          ...(imagesDir !== undefined ? { imagesDir } : {}),
          ...(deps.dataDir !== undefined ? { containerStore: join(deps.dataDir, 'containers') } : {}),
          cwd: options.cwd ?? process.cwd(),
        },
        stagingLimits: {
          archiveBytes: deps.limits.archiveBytes,
          unpackedBytes: deps.limits.unpackedBytes ?? DEFAULT_UNPACKED_BYTES,
          files: deps.limits.files ?? DEFAULT_FILES,
        },
      };
      // A scope of its own, so its error handler answers in OpenFaaS's plain text without touching the root's.
      await app.register(async (scope) => {
        installOpenfaasErrors(scope, (err) =>
          deps.logger.error({ event: 'openfaas_error', err }, 'OpenFaaS API request failed'),
        );
        systemRoutes(scope, ctx);
        functionRoutes(scope, ctx);
        logsRoute(scope, ctx);
        invokeRoutes(scope, ctx);
        notFoundRoute(scope);
      });
    },
  };
}

export const openfaasProfile: CompatProfile = createOpenfaasProfile();
