/**
 * The last calls of each function with their reports, for the dashboard and `GET /v1/calls`, and
 * each function's call and error counts. A fixed-size ring per deployed function; nothing is kept
 * for unknown names.
 */
import type { CallCounts } from '../core/status.js';
import type { Invocation } from '../core/invocation.js';
import type { Result } from '../core/result.js';
import { noTelemetry, type Telemetry } from '../core/telemetry.js';
import type { CallRecord } from '../core/status.js';

/** Characters of a failed call's message kept for the dashboard. */
const MESSAGE_CHARS = 300;

/** What is kept per call: the cheap parts; the record is built when someone asks. */
interface RecentCall {
  id: string;
  function: string;
  status: number;
  finished: number;
  report: Result['report'];
  /** Failed calls only: Tern's error (code and message), or the start of the function's own 5xx body. */
  error?: { code: string; message: string };
}

/**
 * A function's calls and errors: since the node started, and among its recent calls (the rings).
 * An error is a call that answered 5xx or that Tern failed or refused (an error code: timeout, queue full…).
 */
export type { CallCounts };

export function isFailedCall(status: number, report: Result['report']): boolean {
  return status >= 500 || report.error !== undefined;
}

/** The code and message of a failed call: Tern's error body ({error: {code, message}}), else the function's own text. */
function errorOf(result: Result): { code: string; message: string } {
  const code = result.report.error ?? `http_${result.status}`;
  const text = result.body.subarray(0, 4 * MESSAGE_CHARS).toString('utf8');
  if (result.report.error !== undefined) {
    try {
      const parsed = JSON.parse(text) as { error?: { message?: unknown } };
      if (typeof parsed.error?.message === 'string')
        return { code, message: parsed.error.message.slice(0, MESSAGE_CHARS) };
    } catch {
      // Not Tern's JSON body (a cut-off or foreign one): the text itself.
    }
  }
  return { code, message: text.slice(0, MESSAGE_CHARS) };
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
  private readonly totals = new Map<string, { calls: number; errors: number }>();

  constructor(
    private readonly perFunction: number,
    private readonly isKnown: (fn: string) => boolean,
  ) {}

  callCompleted(inv: Invocation, result: Result): void {
    if (!this.isKnown(inv.function)) return;
    let ring = this.rings.get(inv.function);
    if (!ring) this.rings.set(inv.function, (ring = new Ring(this.perFunction)));
    const failed = isFailedCall(result.status, result.report);
    ring.push({
      id: inv.id,
      function: inv.function,
      status: result.status,
      finished: Date.now(),
      report: result.report,
      ...(failed ? { error: errorOf(result) } : {}),
    });
    let total = this.totals.get(inv.function);
    if (!total) this.totals.set(inv.function, (total = { calls: 0, errors: 0 }));
    total.calls++;
    if (failed) total.errors++;
  }

  /** Newest first. */
  list(fn: string, limit: number): CallRecord[] {
    return (this.rings.get(fn)?.newest(limit) ?? []).map((c) => ({
      id: c.id,
      function: c.function,
      state: c.error === undefined ? 'done' : 'failed',
      createdAt: new Date(c.finished - c.report.totalMs).toISOString(),
      finishedAt: new Date(c.finished).toISOString(),
      result: { status: c.status, headers: {}, body: '' },
      report: c.report,
      ...(c.error !== undefined ? { error: c.error } : {}),
    }));
  }

  /** Every function's counts (merged with the other loops' by addCallCounts). */
  counts(): Record<string, CallCounts> {
    const out: Record<string, CallCounts> = {};
    for (const [fn, total] of this.totals) {
      const items = this.rings.get(fn)?.items ?? [];
      let recentErrors = 0;
      for (const c of items) if (c.error !== undefined) recentErrors++;
      out[fn] = { calls: total.calls, errors: total.errors, recentCalls: items.length, recentErrors };
    }
    return out;
  }

  functionEvent(fn: string, event: 'deployed' | 'updated' | 'removed'): void {
    if (event !== 'removed') return;
    this.rings.delete(fn);
    this.totals.delete(fn);
  }

  callRejected = noTelemetry.callRejected;
  instanceStarted = noTelemetry.instanceStarted;
  instanceStopped = noTelemetry.instanceStopped;
  offloaded = noTelemetry.offloaded;
}

/** Sum per-loop counts into `into`. */
export function addCallCounts(into: Record<string, CallCounts>, more: Record<string, CallCounts>): void {
  for (const [fn, c] of Object.entries(more)) {
    const had = into[fn];
    into[fn] = had
      ? {
          calls: had.calls + c.calls,
          errors: had.errors + c.errors,
          recentCalls: had.recentCalls + c.recentCalls,
          recentErrors: had.recentErrors + c.recentErrors,
        }
      : { ...c };
  }
}
