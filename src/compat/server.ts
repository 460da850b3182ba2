/** Starts one listener per enabled compatibility profile. */
import Fastify, { type FastifyInstance } from 'fastify';
import type { CompatProfileConfig } from '../config.js';
import { TernError } from '../core/errors.js';
import { bearerChallenge, installAccessControl } from '../http/access.js';
import { NodeCredentials, type TokenVerdict } from '../http/credentials.js';
import { installErrorHandlers } from '../http/errors.js';
import { edgeServerFactory } from '../http/listener.js';
import type { CompatDeps, CompatName, CompatProfile } from './compat.js';

export interface RunningCompat {
  name: CompatName;
  url: string;
  close(): Promise<void>;
}

/** A compat adapter's answer to a management call without a valid token, unless it has its own. */
function compatDenial(profile: CompatProfile): (verdict: Exclude<TokenVerdict, 'valid'>) => Error {
  return (verdict) =>
    new TernError(
      'unauthorized',
      `${profile.name}: this call deploys or manages functions and needs the node token (Authorization: Bearer <token>${verdict === 'invalid' ? '; the one given is not valid' : ''}), or set [compat.${profile.name}] open-management = true`,
      bearerChallenge(verdict),
    );
}

/** One profile's fastify instance, routes registered, not yet listening (tests inject into it). */
export async function buildCompatApp(
  profile: CompatProfile,
  cfg: Pick<CompatProfileConfig, 'open-management'>,
  deps: CompatDeps,
): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    logger: false,
    exposeHeadRoutes: false,
    bodyLimit: deps.limits.archiveBytes,
    forceCloseConnections: 'idle',
    serverFactory: edgeServerFactory(),
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  installErrorHandlers(app);
  installAccessControl(app, {
    credentials: new NodeCredentials(deps.token),
    openManagement: cfg['open-management'] === true,
    denied: profile.denied ?? compatDenial(profile),
  });
  await profile.register(app, deps);
  return app;
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
    const app = await buildCompatApp(profile, cfg, deps);
    await app.listen({ host, port: cfg.port ?? profile.defaultPort });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    running.push({ name: profile.name, url: `http://${host}:${port}`, close: () => app.close() });
    deps.logger.info({ event: 'compat', profile: profile.name, port }, `${profile.name} API on http://${host}:${port}`);
  }
  return running;
}
