/**
 * One Tern node, from its config, in phases (lifecycle.ts): every part is built in dependency
 * order — logs, state, edge loops, runtimes, registry, scheduler, the HTTP edge, the other
 * triggers, the compat listeners, cluster membership — then every part listens, and shutdown
 * runs the parts in reverse: stop taking work, drain, close. `stop()` leaves no process, thread,
 * temp folder or socket behind.
 */
import { mkdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.js';
import { prettyDestination, wantsPretty } from '../observability/log-format.js';
import { createNodeLogger } from '../observability/logger.js';
import { claimScratch } from '../scratch.js';
import { Lifecycle } from './lifecycle.js';
import { buildCore } from './core-parts.js';
import { buildEdges } from './edge-parts.js';

export interface TernNode {
  readonly config: NodeConfig;
  readonly url: string;
  readonly token: string;
  readonly tokenPath?: string;
  readonly logger: Logger;
  /** Resolves with why, if the node can no longer serve and must be stopped (and started again). */
  readonly failed: Promise<string>;
  stop(): Promise<void>;
}

export async function startNode(config: NodeConfig): Promise<TernNode> {
  await mkdir(config.dataDir, { recursive: true });
  // Scratch folder (src/scratch.ts): this data folder's stale ones are swept; a failed start removes its own.
  const scratch = await claimScratch(config.dataDir);
  const logger = createNodeLogger(
    config.logLevel,
    config.node,
    wantsPretty(config.logFormat) ? prettyDestination() : undefined,
  );
  const life = new Lifecycle((part, phase, err) =>
    logger.warn({ event: 'stop_problem', part, phase, err: (err as Error).message }, `${part}: ${phase} failed`),
  );
  life.add({ name: 'scratch', close: () => scratch.remove() });
  if (scratch.swept.length > 0)
    logger.info({ event: 'scratch_swept', folders: scratch.swept }, 'removed stale scratch of a node that crashed');
  let fail: (why: string) => void = () => undefined;
  const failed = new Promise<string>((resolve) => (fail = resolve));
  try {
    const core = await buildCore(config, scratch.dir, logger, life, (why) => fail(why));
    const edges = await buildEdges(config, core, logger, life);
    await life.listen();
    const url = edges.http.url();
    logger.info(
      { event: 'serving', url, scratch: scratch.dir, loops: config.http.loops, triggers: edges.addresses() },
      `tern node ${config.node} serving on ${url}`,
    );
    const stop = async () => {
      logger.info({ event: 'stopping' }, 'stopping: draining calls');
      await life.stop(config.drainTimeoutMs);
      logger.info({ event: 'stopped' }, 'stopped');
    };
    const port = Number(new URL(url).port);
    return { config: { ...config, port }, url, token: core.token, ...core.tokenFile, logger, failed, stop };
  } catch (e) {
    await life.stop(0);
    await scratch.abandon();
    throw e;
  }
}
