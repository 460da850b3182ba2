/**
 * State and chaining for one node (issue 9), wired in src/node/core-parts.ts:
 *   const host = await createHostSide({...});      // before the runtimes: they take host.services
 *   ... createScheduler({ finishCall: host.finishCall, ... }) ...
 *   host.bind(scheduler);                           // chained calls go through the scheduler
 *   ... await host.close() after the scheduler closed.
 */
import type { Logger } from 'pino';
import type { CallFinisher, CallRunner, HostServices } from '../core/host.js';
import type { ChildCall } from '../core/report.js';
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
  /** The scheduler's end-of-call hook (core/host.ts CallFinisher). */
  readonly finishCall: CallFinisher;
  /** The same for a call that ran on another loop: frees its locks, returns its chained children. */
  finishCallId(callId: string): ChildCall[] | undefined;
  bind(scheduler: CallRunner): void;
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
  const finishCallId = (callId: string) => {
    const children = chaining.take(callId);
    state.releaseOwner(callId);
    return children;
  };
  const finishCall: CallFinisher = (inv, result) => {
    const children = finishCallId(inv.id);
    if (children !== undefined && children.length > 0) result.report.children = children;
  };
  return {
    services,
    state,
    chaining,
    finishCall,
    finishCallId,
    bind: (scheduler) => chaining.bind(scheduler),
    close: () => state.close(),
  };
}
