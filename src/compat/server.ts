/** Starts one listener per enabled compatibility profile. */
import Fastify, { type FastifyInstance } from 'fastify';
import type { CompatProfileConfig } from '../config.js';
import { installErrorHandlers } from '../gateway/errors.js';
import type { CompatDeps, CompatName, CompatProfile } from './compat.js';

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
    const app: FastifyInstance = Fastify({ logger: false, exposeHeadRoutes: false, bodyLimit: deps.limits.archiveBytes, forceCloseConnections: 'idle' });
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
    installErrorHandlers(app);
    await profile.register(app, deps);
    await app.listen({ host, port: cfg.port ?? profile.defaultPort });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    running.push({ name: profile.name, url: `http://${host}:${port}`, close: () => app.close() });
    deps.logger.info({ event: 'compat', profile: profile.name, port }, `${profile.name} API on http://${host}:${port}`);
  }
  return running;
}
