/** Starts one listener per enabled compatibility profile. */
import Fastify, { type FastifyInstance } from 'fastify';
import type { CompatProfileConfig } from '../config.js';
import { installErrorHandlers } from '../gateway/errors.js';
import { timingSafeEqual } from 'node:crypto';
import { TernError } from '../core/errors.js';
import type { CompatDeps, CompatName, CompatProfile } from './compat.js';

/** The token as a Bearer credential or as the password of Basic auth (how OpenFaaS clients send it). */
function carriesToken(header: string | undefined, token: string): boolean {
  if (!header) return false;
  let given: string | undefined;
  if (header.startsWith('Bearer ')) given = header.slice(7).trim();
  else if (header.startsWith('Basic ')) {
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString();
    given = decoded.slice(decoded.indexOf(':') + 1);
  }
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function requireTokenFor(app: FastifyInstance, profile: CompatProfile, token: string): void {
  app.addHook('onRequest', async (request) => {
    if (!profile.isManagement!(request.method, request.url.split('?')[0]!)) return;
    if (!carriesToken(request.headers.authorization, token)) {
      throw new TernError(
        'unauthorized',
        `${profile.name}: this call deploys or manages functions and needs the node token (Authorization: Bearer <token>), or set [compat.${profile.name}] open-management = true`,
        {
          'www-authenticate': 'Bearer',
        },
      );
    }
  });
}

export interface RunningCompat {
  name: CompatName;
  url: string;
  close(): Promise<void>;
}

export async function startCompat(
  profiles: CompatProfile[],
  config: Record<CompatName, CompatProfileConfig>,
  host: string,
  deps: CompatDeps,
): Promise<RunningCompat[]> {
  const running: RunningCompat[] = [];
  for (const profile of profiles) {
    const cfg = config[profile.name];
    if (!cfg.enabled) continue;
    const app: FastifyInstance = Fastify({
      logger: false,
      exposeHeadRoutes: false,
      bodyLimit: deps.limits.archiveBytes,
      forceCloseConnections: 'idle',
    });
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    installErrorHandlers(app);
    if (profile.isManagement && !cfg['open-management']) requireTokenFor(app, profile, deps.token);
    await profile.register(app, deps);
    await app.listen({ host, port: cfg.port ?? profile.defaultPort });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    running.push({ name: profile.name, url: `http://${host}:${port}`, close: () => app.close() });
    deps.logger.info({ event: 'compat', profile: profile.name, port }, `${profile.name} API on http://${host}:${port}`);
  }
  return running;
}
