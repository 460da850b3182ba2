/** Starts one listener per enabled compatibility profile. */
import Fastify, { type FastifyInstance } from 'fastify';
import type { CompatProfileConfig } from '../config.js';
import { TernError } from '../core/errors.js';
import { bearerChallenge, installAccessControl } from '../http/access.js';
import { NodeCredentials, type TokenVerdict } from '../http/credentials.js';
import { installErrorHandlers } from '../http/errors.js';
import { edgeServerFactory } from '../http/listener.js';
import type { CompatDeps, CompatListener, CompatName, CompatProfile } from './compat.js';

export interface RunningCompat {
  name: CompatName;
  /** The listener's role when the profile has several (CompatListener.role). */
  role?: string;
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
  installErrorHandlers(app, deps.logger.child({ compat: profile.name }));
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
  try {
    for (const profile of profiles) {
      const cfg = config[profile.name];
      if (!cfg.enabled) continue;
      const listeners = profile.listeners?.(cfg) ?? [
        { port: cfg.port ?? profile.defaultPort, register: profile.register.bind(profile) },
      ];
      for (const listener of listeners) running.push(await startListener(profile, listener, cfg, host, deps));
    }
  } catch (e) {
    // A later listener that cannot bind must not leave the earlier ones open.
    await Promise.allSettled(running.map((r) => r.close()));
    throw e;
  }
  return running;
}

async function startListener(
  profile: CompatProfile,
  listener: CompatListener,
  cfg: CompatProfileConfig,
  host: string,
  deps: CompatDeps,
): Promise<RunningCompat> {
  const app = await buildCompatApp({ ...profile, register: listener.register }, cfg, deps);
  try {
    await app.listen({ host, port: listener.port });
  } catch (e) {
    await app.close();
    throw e;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const label = listener.role === undefined ? profile.name : `${profile.name} ${listener.role}`;
  deps.logger.info(
    { event: 'compat', profile: profile.name, ...(listener.role !== undefined ? { role: listener.role } : {}), port },
    `${label} API on http://${host}:${port}`,
  );
  return {
    name: profile.name,
    ...(listener.role !== undefined ? { role: listener.role } : {}),
    url: `http://${host}:${port}`,
    close: () => app.close(),
  };
}
