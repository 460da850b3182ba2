/**
 * Prometheus metrics: a Telemetry sink for events (counters, histograms) plus gauges read from
 * the scheduler at scrape time. Its own Registry, so several nodes (tests) in one process never
 * share series. Label values are bounded: only deployed functions get their own `function` label,
 * status codes are clamped to 100..599 and offload targets to the first few nodes seen.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';
import type { Invocation } from '../core/invocation.js';
import type { Result } from '../core/result.js';
import type { InstanceStopReason, RejectReason, Telemetry } from '../core/telemetry.js';
import type { FunctionStatus } from '../core/status.js';

/** The `function` label of calls to names that are not deployed (404 floods must not add series). */
export const UNKNOWN_FUNCTION = '_unknown';
/** The `target` label of offloads beyond the first MAX_TARGETS distinct nodes. */
export const OTHER_TARGET = '_other';
const MAX_TARGETS = 64;

/** Seconds, 50 µs (a warm wasm call) to 30 s (a slow micro-VM boot or a long call). */
export const DURATION_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

const MIB = 1024 * 1024;

export interface FunctionInfo {
  name: string;
  runtime: string;
  version: string;
}

export interface MetricsOptions {
  /** Live status of every deployed function (read at scrape time). */
  statuses: () => FunctionStatus[];
  /** Node memory budget and use, MiB (read at scrape time). */
  capacity: () => { memoryMiB: number; usedMiB: number };
  /** Whether a function is deployed; others are counted as UNKNOWN_FUNCTION. */
  isKnown: (fn: string) => boolean;
  /** Deployed functions for tern_function_info (read at scrape time); absent: no such series. */
  functions?: () => FunctionInfo[];
}

type StartKind = 'cold' | 'warm' | 'none';

/** The part of a prom-client metric that forgetting a function's series needs. */
interface SeriesHolder<L extends string> {
  get(): Promise<{ values: { labels: LabelValues<L> }[] }>;
  remove(labels: LabelValues<L>): void;
}

function statusLabel(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : 'invalid';
}

function startLabel(result: Result): StartKind {
  if (result.report.instance === '') return 'none';
  return result.report.cold ? 'cold' : 'warm';
}

export class Metrics implements Telemetry {
  readonly register = new Registry();
  private readonly targets = new Set<string>();
  /** Pending series removals; render() waits for them so a scrape never shows a removed function. */
  private forgetting: Promise<void> = Promise.resolve();

  private readonly calls: Counter<'function' | 'status' | 'start'>;
  private readonly callDuration: Histogram<'function'>;
  private readonly queueTime: Histogram<'function'>;
  private readonly runTime: Histogram<'function'>;
  private readonly startTime: Histogram<'function'>;
  private readonly offloads: Counter<'function' | 'target' | 'outcome'>;
  private readonly rejected: Counter<'function' | 'reason'>;
  private readonly starts: Counter<'function'>;
  private readonly stops: Counter<'function' | 'reason'>;

  constructor(private readonly opts: MetricsOptions) {
    const registers = [this.register];
    collectDefaultMetrics({ register: this.register });
    const histogram = (name: string, help: string) =>
      new Histogram({ name, help, labelNames: ['function'] as const, buckets: DURATION_BUCKETS, registers });

    this.calls = new Counter({
      name: 'tern_calls_total',
      help: 'Calls that reached the scheduler, by final HTTP status and instance start (cold, warm, none: no instance reached).',
      labelNames: ['function', 'status', 'start'] as const,
      registers,
    });
    this.callDuration = histogram(
      'tern_call_duration_seconds',
      'Whole time of a call on this node, from receipt to result.',
    );
    this.queueTime = histogram(
      'tern_call_queue_seconds',
      'Time a call waited for an instance (calls run on this node).',
    );
    this.runTime = histogram('tern_call_run_seconds', 'Time inside the function (calls run on this node).');
    this.startTime = histogram('tern_instance_start_seconds', 'Time to start an instance (cold start).');
    this.offloads = new Counter({
      name: 'tern_offloaded_calls_total',
      help: 'Calls forwarded to another node, by target node and outcome (ok, failed).',
      labelNames: ['function', 'target', 'outcome'] as const,
      registers,
    });
    this.rejected = new Counter({
      name: 'tern_rejected_calls_total',
      help: 'Calls refused before they ran, by reason.',
      labelNames: ['function', 'reason'] as const,
      registers,
    });
    this.starts = new Counter({
      name: 'tern_instance_starts_total',
      help: 'Instances started.',
      labelNames: ['function'] as const,
      registers,
    });
    this.stops = new Counter({
      name: 'tern_instance_stops_total',
      help: 'Instances stopped, by reason.',
      labelNames: ['function', 'reason'] as const,
      registers,
    });

    const statuses = opts.statuses;
    new Gauge({
      name: 'tern_instances',
      help: 'Instances of each deployed function by state (starting, idle, busy).',
      labelNames: ['function', 'state'] as const,
      registers,
      collect() {
        this.reset();
        for (const s of statuses()) {
          this.set({ function: s.name, state: 'starting' }, s.instances.starting);
          this.set({ function: s.name, state: 'idle' }, s.instances.idle);
          this.set({ function: s.name, state: 'busy' }, s.instances.busy);
        }
      },
    });
    new Gauge({
      name: 'tern_queue_length',
      help: 'Calls waiting for an instance.',
      labelNames: ['function'] as const,
      registers,
      collect() {
        this.reset();
        for (const s of statuses()) this.set({ function: s.name }, s.queued);
      },
    });
    const capacity = opts.capacity;
    new Gauge({
      name: 'tern_memory_budget_bytes',
      help: 'Memory the node may reserve for instances.',
      registers,
      collect() {
        this.set(capacity().memoryMiB * MIB);
      },
    });
    new Gauge({
      name: 'tern_memory_used_bytes',
      help: 'Memory reserved by running instances.',
      registers,
      collect() {
        this.set(capacity().usedMiB * MIB);
      },
    });
    const functions = opts.functions;
    if (functions) {
      new Gauge({
        name: 'tern_function_info',
        help: 'Deployed functions: runtime and version (value 1).',
        labelNames: ['function', 'runtime', 'version'] as const,
        registers,
        collect() {
          this.reset();
          for (const f of functions()) this.set({ function: f.name, runtime: f.runtime, version: f.version }, 1);
        },
      });
    }
  }

  get contentType(): string {
    return this.register.contentType;
  }

  /** The Prometheus text exposition of every metric, gauges read now. */
  async render(): Promise<string> {
    await this.forgetting;
    return this.register.metrics();
  }

  callCompleted(inv: Invocation, result: Result): void {
    const fn = this.label(inv.function);
    const start = startLabel(result);
    const r = result.report;
    this.calls.inc({ function: fn, status: statusLabel(result.status), start });
    this.callDuration.observe({ function: fn }, r.totalMs / 1000);
    // Queue and run times of an offloaded call were measured elsewhere; they belong to that node.
    if (start !== 'none' && !r.offloaded) {
      this.queueTime.observe({ function: fn }, r.queueMs / 1000);
      this.runTime.observe({ function: fn }, r.runMs / 1000);
    }
  }

  callRejected(fn: string, reason: RejectReason): void {
    this.rejected.inc({ function: this.label(fn), reason });
  }

  instanceStarted(fn: string, _instance: string, initMs: number): void {
    const label = this.label(fn);
    this.starts.inc({ function: label });
    this.startTime.observe({ function: label }, initMs / 1000);
  }

  instanceStopped(fn: string, _instance: string, reason: InstanceStopReason, _detail?: string): void {
    this.stops.inc({ function: this.label(fn), reason });
  }

  offloaded(fn: string, target: string, ok: boolean): void {
    this.offloads.inc({ function: this.label(fn), target: this.targetLabel(target), outcome: ok ? 'ok' : 'failed' });
  }

  functionEvent(fn: string, event: 'deployed' | 'updated' | 'removed', _version?: string): void {
    if (event !== 'removed') return;
    const holders: SeriesHolder<string>[] = [
      this.calls,
      this.callDuration,
      this.queueTime,
      this.runTime,
      this.startTime,
      this.offloads,
      this.rejected,
      this.starts,
      this.stops,
    ];
    this.forgetting = this.forgetting.then(() => Promise.all(holders.map((h) => forget(h, fn)))).then(() => undefined);
  }

  private label(fn: string): string {
    return this.opts.isKnown(fn) ? fn : UNKNOWN_FUNCTION;
  }

  private targetLabel(target: string): string {
    if (this.targets.has(target)) return target;
    if (this.targets.size >= MAX_TARGETS) return OTHER_TARGET;
    this.targets.add(target);
    return target;
  }
}

/** Remove every series of `fn` from one metric (histogram buckets carry `le`, which is not a label name). */
async function forget(holder: SeriesHolder<string>, fn: string): Promise<void> {
  const { values } = await holder.get();
  const seen = new Set<string>();
  for (const { labels } of values) {
    if (labels['function'] !== fn) continue;
    const { le: _le, ...own } = labels;
    const key = JSON.stringify(own);
    if (seen.has(key)) continue;
    seen.add(key);
    holder.remove(own);
  }
}
