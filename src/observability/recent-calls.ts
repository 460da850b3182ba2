/**
 * The last calls of each function with their reports, for the dashboard and `GET /v1/calls`.
 * A fixed-size ring per deployed function; nothing is kept for unknown names.
 */
import type { Invocation } from '../core/invocation.js';
import type { Result } from '../core/result.js';
import { noTelemetry, type Telemetry } from '../core/telemetry.js';
import type { CallRecord } from '../scheduler/types.js';

export class RecentCalls implements Telemetry {
  private readonly rings = new Map<string, CallRecord[]>();

  constructor(
    private readonly perFunction: number,
    private readonly isKnown: (fn: string) => boolean,
  ) {}

  callCompleted(inv: Invocation, result: Result): void {
    if (!this.isKnown(inv.function)) return;
    let ring = this.rings.get(inv.function);
    if (!ring) this.rings.set(inv.function, (ring = []));
    const finished = Date.now();
    ring.push({
      id: inv.id,
      function: inv.function,
      state: result.status < 500 && !result.report.error ? 'done' : 'failed',
      createdAt: new Date(finished - result.report.totalMs).toISOString(),
      finishedAt: new Date(finished).toISOString(),
      result: { status: result.status, headers: {}, body: '' },
      report: result.report,
    });
    if (ring.length > this.perFunction) ring.shift();
  }

  /** Newest first. */
  list(fn: string, limit: number): CallRecord[] {
    return (this.rings.get(fn) ?? []).slice(-limit).reverse();
  }

  functionEvent(fn: string, event: 'deployed' | 'updated' | 'removed'): void {
    if (event === 'removed') this.rings.delete(fn);
  }

  callRejected = noTelemetry.callRejected;
  instanceStarted = noTelemetry.instanceStarted;
  instanceStopped = noTelemetry.instanceStopped;
  offloaded = noTelemetry.offloaded;
}
