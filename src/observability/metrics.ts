/**
 * Prometheus metrics: a Telemetry sink for events (counters, histograms) plus gauges read from
 * the scheduler at scrape time. Its own Registry, so several nodes (tests) in one process never
 * share series. Label values are bounded: only deployed functions get their own `function` label,
 * status codes are clamped to 100..599 and offload targets to the first few nodes seen.
 */
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type LabelValues,
} from 'prom-client';
import { CallStats, DURATION_BUCKETS, type MetricJson } from './call-stats.js';
import type { Invocation } from '../core/invocation.js';
import type { Result } from '../core/result.js';
import type { InstanceStopReason, RejectReason, Telemetry } from '../core/telemetry.js';
import type { FunctionStatus } from '../core/status.js';

/** The `function` label of calls to names that are not deployed (404 floods must not add series). */
export const UNKNOWN_FUNCTION = '_unknown';
/** The `target` label of offloads beyond the first MAX_TARGETS distinct nodes. */
export const OTHER_TARGET = '_other';
const MAX_TARGETS = 64;

export { DURATION_BUCKETS } from './call-stats.js';

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
  /** The per-call series counted on the node's other event loops (src/loops/), read at scrape time. */
  otherLoops?: () => Promise<CallStatsSnapshot[]>;
}

type CallStatsSnapshot = MetricJson[];

/** The part of a prom-client metric that forgetting a function's series needs. */
interface SeriesHolder<L extends string> {
  get(): Promise<{ values: { labels: LabelValues<L> }[] }>;
  remove(labels: LabelValues<L>): void;
}

export class Metrics implements Telemetry {
  readonly register = new Registry();
  private readonly targets = new Set<string>();
  /** Pending series removals; render() waits for them so a scrape never shows a removed function. */
  private forgetting: Promise<void> = Promise.resolve();

  /** Calls completed on this loop (the per-call series; see call-stats.ts). */
  private readonly callStats = new CallStats();
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

    registerGauges(registers, opts);
  }

  get contentType(): string {
    return this.register.contentType;
  }

  /** The Prometheus text exposition of every metric, gauges read now. */
  async render(): Promise<string> {
    await this.forgetting;
    const known = (fn: string) => fn === UNKNOWN_FUNCTION || this.opts.isKnown(fn);
    const others = this.opts.otherLoops ? await this.opts.otherLoops() : [];
    const merged = AggregatorRegistry.aggregate([
      await this.register.getMetricsAsJSON(),
      this.callStats.snapshot(known),
      ...others.map((o) =>
        o.map((m) => ({ ...m, values: m.values.filter((v) => known(String(v.labels['function']))) })),
      ),
    ]);
    return merged.metrics();
  }

  callCompleted(inv: Invocation, result: Result): void {
    this.callStats.record(this.label(inv.function), result);
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
    this.callStats.forget(fn);
    const holders: SeriesHolder<string>[] = [this.startTime, this.offloads, this.rejected, this.starts, this.stops];
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

/** Gauges read from the node at scrape time: instances by state, queue lengths, memory, function info. */
function registerGauges(registers: Registry[], opts: MetricsOptions): void {
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
