/**
 * What an edge loop tells about its calls: the per-call metric series and the recent calls of
 * each function (both collected by the control loop when asked), one debug line per call, and
 * function output lines, sent to the control loop's log store in batches.
 */
import type { Logger } from 'pino';
import type { Invocation } from '../../core/invocation.js';
import type { LogSink } from '../../core/logs.js';
import type { Result } from '../../core/result.js';
import { CallStats } from '../../observability/call-stats.js';
import { lifecycleTelemetry } from '../../observability/lifecycle.js';
import { RecentCalls } from '../../observability/recent-calls.js';
import type { Telemetry } from '../../core/telemetry.js';
import type { LogLineTuple } from '../protocol.js';
import type { CallObserver } from './calls.js';

const RECENT_PER_FUNCTION = 100;

export class EdgeObserver implements CallObserver {
  readonly stats = new CallStats();
  /** Only leased calls complete here, and a lease means the function is deployed. */
  readonly recent = new RecentCalls(RECENT_PER_FUNCTION, () => true);
  private readonly lines: Telemetry;

  constructor(logger: Logger) {
    this.lines = lifecycleTelemetry(logger);
  }

  completed(inv: Invocation, result: Result): void {
    this.stats.record(inv.function, result);
    this.recent.callCompleted(inv, result);
    this.lines.callCompleted(inv, result);
  }
}

const BATCH_LINES = 256;
const BATCH_MS = 20;

export class LogBatcher {
  private pending: LogLineTuple[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly send: (lines: LogLineTuple[]) => void) {}

  readonly sink: LogSink = (line, stream, instance, callId) => {
    this.pending.push([line, stream, instance, callId]);
    if (this.pending.length >= BATCH_LINES) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), BATCH_MS);
  };

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    this.send(lines);
  }
}
