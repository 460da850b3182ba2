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

/**
 * Fans each event out to the sinks added so far. The scheduler is built with the bus; sinks that
 * read the scheduler (metrics' gauges) are built after it and added then.
 */
export class TelemetryBus implements Telemetry {
  private readonly sinks: Telemetry[] = [];

  add(...sinks: Telemetry[]): this {
    this.sinks.push(...sinks);
    return this;
  }

  callCompleted(inv: Invocation, result: Result): void {
    for (const s of this.sinks) s.callCompleted(inv, result);
  }

  callRejected(fn: string, reason: RejectReason): void {
    for (const s of this.sinks) s.callRejected(fn, reason);
  }

  instanceStarted(fn: string, instance: string, initMs: number): void {
    for (const s of this.sinks) s.instanceStarted(fn, instance, initMs);
  }

  instanceStopped(fn: string, instance: string, reason: InstanceStopReason, detail?: string): void {
    for (const s of this.sinks) s.instanceStopped(fn, instance, reason, detail);
  }

  offloaded(fn: string, target: string, ok: boolean): void {
    for (const s of this.sinks) s.offloaded(fn, target, ok);
  }

  functionEvent(fn: string, event: 'deployed' | 'updated' | 'removed', version?: string): void {
    for (const s of this.sinks) s.functionEvent(fn, event, version);
  }
}
