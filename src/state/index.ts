/**
 * State and chaining for one node (issue 9), wired in src/node.ts:
 *   const host = await createHostSide({...});      // before the runtimes: they take host.services
 *   ... createScheduler({ telemetry: combineTelemetry(host.telemetry, ...) }) ...
 *   host.bind(scheduler);                           // chained calls go through the scheduler
 *   ... await host.close() after the scheduler closed.
 */
import type { Logger } from 'pino';
import type { Telemetry } from '../core/telemetry.js';
import { noTelemetry } from '../core/telemetry.js';
import type { HostServices } from '../runtimes/runtime.js';
import type { Scheduler } from '../scheduler/types.js';
import { Chaining } from './chain.js';
import type { StateLimits } from './limits.js';
import { StateService } from './service.js';

export { Chaining } from './chain.js';
export { DEFAULT_STATE_LIMITS, type StateLimits } from './limits.js';
export { StateService } from './service.js';

export interface HostSideOptions {
  nodeName: string;
  dataDir: string;
  chainDepth: number;
  limits: StateLimits;
  redis?: string;
  logger: Logger;
}

export interface HostSide {
  /** For RuntimeContext.host. */
  readonly services: HostServices;
  readonly state: StateService;
  readonly chaining: Chaining;
  /**
   * First in the node's telemetry: when a call completes it attaches the call's chained children to
   * its report (before other sinks see it) and frees the state locks the call still holds.
   */
  readonly telemetry: Telemetry;
  bind(scheduler: Pick<Scheduler, 'invoke'>): void;
  /** After the scheduler closed: flush state to disk, disconnect from Redis. */
  close(): Promise<void>;
}

export async function createHostSide(o: HostSideOptions): Promise<HostSide> {
  const state = await StateService.open({
    dataDir: o.dataDir,
    limits: o.limits,
    logger: o.logger,
    ...(o.redis !== undefined ? { redis: o.redis } : {}),
  });
  const chaining = new Chaining({ nodeName: o.nodeName, maxDepth: o.chainDepth });
  const services: HostServices = {
    invoke: (parent, fn, body, opts) => chaining.invoke(parent, fn, body, opts),
    state,
  };
  const telemetry: Telemetry = {
    ...noTelemetry,
    callCompleted(inv, result) {
      const children = chaining.take(inv.id);
      if (children !== undefined && children.length > 0) result.report.children = children;
      state.releaseOwner(inv.id);
    },
  };
  return {
    services,
    state,
    chaining,
    telemetry,
    bind: (scheduler) => chaining.bind(scheduler),
    close: () => state.close(),
  };
}
