/**
 * The last calls of each function with their reports, for the dashboard and `GET /v1/calls`.
 * A fixed-size ring per deployed function; nothing is kept for unknown names.
 */
import type { Invocation } from '../core/invocation.js';
import type { Result } from '../core/result.js';
import { noTelemetry, type Telemetry } from '../core/telemetry.js';
import type { CallRecord } from '../core/status.js';

/** What is kept per call: the cheap parts; the record is built when someone asks. */
interface RecentCall {
  id: string;
  function: string;
  status: number;
  finished: number;
  report: Result['report'];
}

export class RecentCalls implements Telemetry {
  private readonly rings = new Map<string, RecentCall[]>();

  constructor(
    private readonly perFunction: number,
    private readonly isKnown: (fn: string) => boolean,
  ) {}

  callCompleted(inv: Invocation, result: Result): void {
    if (!this.isKnown(inv.function)) return;
    let ring = this.rings.get(inv.function);
    if (!ring) this.rings.set(inv.function, (ring = []));
    ring.push({
      id: inv.id,
      function: inv.function,
      status: result.status,
      finished: Date.now(),
      report: result.report,
    });
    if (ring.length > this.perFunction) ring.shift();
  }

  /** Newest first. */
  list(fn: string, limit: number): CallRecord[] {
    return (this.rings.get(fn) ?? [])
      .slice(-limit)
      .reverse()
      .map((c) => ({
        id: c.id,
        function: c.function,
        state: c.status < 500 && !c.report.error ? 'done' : 'failed',
        createdAt: new Date(c.finished - c.report.totalMs).toISOString(),
        finishedAt: new Date(c.finished).toISOString(),
        result: { status: c.status, headers: {}, body: '' },
        report: c.report,
      }));
  }

  functionEvent(fn: string, event: 'deployed' | 'updated' | 'removed'): void {
    if (event === 'removed') this.rings.delete(fn);
  }

  callRejected = noTelemetry.callRejected;
  instanceStarted = noTelemetry.instanceStarted;
  instanceStopped = noTelemetry.instanceStopped;
  offloaded = noTelemetry.offloaded;
}
