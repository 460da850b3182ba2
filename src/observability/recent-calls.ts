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

/** The last `size` calls, overwritten in place (no array shifting per call). */
class Ring {
  readonly items: RecentCall[] = [];
  private next = 0;

  constructor(private readonly size: number) {}

  push(call: RecentCall): void {
    if (this.items.length < this.size) this.items.push(call);
    else this.items[this.next] = call;
    this.next = (this.next + 1) % this.size;
  }

  /** The newest `limit`, newest first. */
  newest(limit: number): RecentCall[] {
    const out: RecentCall[] = [];
    const n = this.items.length;
    for (let i = 1; i <= Math.min(limit, n); i++) out.push(this.items[(this.next - i + n) % n]!);
    return out;
  }
}

export class RecentCalls implements Telemetry {
  private readonly rings = new Map<string, Ring>();

  constructor(
    private readonly perFunction: number,
    private readonly isKnown: (fn: string) => boolean,
  ) {}

  callCompleted(inv: Invocation, result: Result): void {
    if (!this.isKnown(inv.function)) return;
    let ring = this.rings.get(inv.function);
    if (!ring) this.rings.set(inv.function, (ring = new Ring(this.perFunction)));
    ring.push({
      id: inv.id,
      function: inv.function,
      status: result.status,
      finished: Date.now(),
      report: result.report,
    });
  }

  /** Newest first. */
  list(fn: string, limit: number): CallRecord[] {
    return (this.rings.get(fn)?.newest(limit) ?? []).map((c) => ({
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
