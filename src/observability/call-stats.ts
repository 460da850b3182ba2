/**
 * The per-call series of /metrics (calls by status, whole/queue/run time histograms), counted
 * cheaply on whichever event loop completes a call and merged at scrape time. A call is counted
 * once, where its result is made. The snapshot has prom-client's JSON shape, so the control loop
 * merges every loop's with prom-client's own AggregatorRegistry.aggregate.
 */
import type { Result } from '../core/result.js';

/** Seconds, 50 µs (a warm wasm call) to 30 s (a slow micro-VM boot or a long call). */
export const DURATION_BUCKETS = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

export type StartKind = 'cold' | 'warm' | 'none';

/** One metric in prom-client's JSON form (what Registry.getMetricsAsJSON gives and AggregatorRegistry.aggregate takes). */
export interface MetricJson {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

const CALLS = {
  name: 'tern_calls_total',
  help: 'Calls that reached the scheduler, by final HTTP status and instance start (cold, warm, none: no instance reached).',
};
const HISTOGRAMS = {
  total: { name: 'tern_call_duration_seconds', help: 'Whole time of a call on this node, from receipt to result.' },
  queue: { name: 'tern_call_queue_seconds', help: 'Time a call waited for an instance (calls run on this node).' },
  run: { name: 'tern_call_run_seconds', help: 'Time inside the function (calls run on this node).' },
} as const;
type HistogramKind = keyof typeof HISTOGRAMS;

class Buckets {
  readonly counts = new Float64Array(DURATION_BUCKETS.length);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < DURATION_BUCKETS.length; i++) {
      if (seconds <= DURATION_BUCKETS[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

interface FunctionStats {
  /** `${status}|${start}` -> calls. */
  calls: Map<string, number>;
  /** Made at the first observation, as prom-client makes a series. */
  total?: Buckets;
  queue?: Buckets;
  run?: Buckets;
}

function statusLabel(status: number): string {
  return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : 'invalid';
}

export function startLabel(result: Result): StartKind {
  if (result.report.instance === '') return 'none';
  return result.report.cold ? 'cold' : 'warm';
}

export class CallStats {
  private readonly byFunction = new Map<string, FunctionStats>();

  /** `fn` is the series' function label (the caller maps unknown names to one label). */
  record(fn: string, result: Result): void {
    let s = this.byFunction.get(fn);
    if (s === undefined) {
      s = { calls: new Map() };
      this.byFunction.set(fn, s);
    }
    const start = startLabel(result);
    const key = `${statusLabel(result.status)}|${start}`;
    s.calls.set(key, (s.calls.get(key) ?? 0) + 1);
    const r = result.report;
    (s.total ??= new Buckets()).observe(r.totalMs / 1000);
    // Queue and run times of an offloaded call were measured elsewhere; they belong to that node.
    if (start !== 'none' && !r.offloaded) {
      (s.queue ??= new Buckets()).observe(r.queueMs / 1000);
      (s.run ??= new Buckets()).observe(r.runMs / 1000);
    }
  }

  forget(fn: string): void {
    this.byFunction.delete(fn);
  }

  /** Everything counted so far, as prom-client's metric JSON; `keep` filters the function labels. */
  snapshot(keep: (fn: string) => boolean = () => true): MetricJson[] {
    const calls: MetricJson['values'] = [];
    const hist: Record<HistogramKind, MetricJson['values']> = { total: [], queue: [], run: [] };
    for (const [fn, s] of this.byFunction) {
      if (!keep(fn)) continue;
      for (const [key, value] of s.calls) {
        const [status, start] = key.split('|') as [string, string];
        calls.push({ value, labels: { function: fn, status, start } });
      }
      for (const kind of Object.keys(HISTOGRAMS) as HistogramKind[]) {
        const buckets = s[kind];
        if (buckets !== undefined) hist[kind].push(...histogramValues(kind, fn, buckets));
      }
    }
    const histogram = (kind: HistogramKind): MetricJson => ({
      ...HISTOGRAMS[kind],
      type: 'histogram',
      values: hist[kind],
      aggregator: 'sum',
    });
    return [
      { ...CALLS, type: 'counter', values: calls, aggregator: 'sum' },
      histogram('total'),
      histogram('queue'),
      histogram('run'),
    ];
  }
}

function histogramValues(kind: HistogramKind, fn: string, b: Buckets): MetricJson['values'] {
  const name = HISTOGRAMS[kind].name;
  const out: MetricJson['values'] = [];
  let acc = 0;
  for (let i = 0; i < DURATION_BUCKETS.length; i++) {
    acc += b.counts[i]!;
    out.push({ value: acc, labels: { le: DURATION_BUCKETS[i]!, function: fn }, metricName: `${name}_bucket` });
  }
  out.push({ value: b.count, labels: { le: '+Inf', function: fn }, metricName: `${name}_bucket` });
  out.push({ value: b.sum, labels: { function: fn }, metricName: `${name}_sum` });
  out.push({ value: b.count, labels: { function: fn }, metricName: `${name}_count` });
  return out;
}
