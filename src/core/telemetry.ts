/**
 * What the pool and scheduler tell observability. The pool calls these; metrics and node logs
 * implement them. Keep calls cheap: they sit on the hot path.
 */
import type { Invocation } from './invocation.js';
import type { Result } from './result.js';

export type InstanceState = 'starting' | 'idle' | 'busy' | 'draining';

export type RejectReason =
  'queue_full' | 'queue_timeout' | 'no_capacity' | 'not_found' | 'unauthorized' | 'too_large' | 'depth_exceeded';

export type InstanceStopReason =
  'keepalive' | 'single_use' | 'evicted' | 'timeout' | 'crashed' | 'update' | 'removed' | 'shutdown' | 'start_failed';

export interface Telemetry {
  /** Every call that reached the scheduler, with its final result (errors included). */
  callCompleted(inv: Invocation, result: Result): void;
  /** A call refused before it ran (also reported through callCompleted). */
  callRejected(fn: string, reason: RejectReason): void;
  instanceStarted(fn: string, instance: string, initMs: number): void;
  instanceStopped(fn: string, instance: string, reason: InstanceStopReason, detail?: string): void;
  /** A call forwarded to another node. */
  offloaded(fn: string, target: string, ok: boolean): void;
  /** Lifecycle events of functions (deploy, update, remove). */
  functionEvent(fn: string, event: 'deployed' | 'updated' | 'removed', version?: string): void;
}

export const noTelemetry: Telemetry = {
  callCompleted() {},
  callRejected() {},
  instanceStarted() {},
  instanceStopped() {},
  offloaded() {},
  functionEvent() {},
};

/** Fan one telemetry event out to several sinks. */
export function combineTelemetry(...sinks: Telemetry[]): Telemetry {
  return {
    callCompleted: (i, r) => sinks.forEach((s) => s.callCompleted(i, r)),
    callRejected: (f, r) => sinks.forEach((s) => s.callRejected(f, r)),
    instanceStarted: (f, i, ms) => sinks.forEach((s) => s.instanceStarted(f, i, ms)),
    instanceStopped: (f, i, r, d) => sinks.forEach((s) => s.instanceStopped(f, i, r, d)),
    offloaded: (f, t, ok) => sinks.forEach((s) => s.offloaded(f, t, ok)),
    functionEvent: (f, e, v) => sinks.forEach((s) => s.functionEvent(f, e, v)),
  };
}
