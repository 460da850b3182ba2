// Live call metrics: samples GET /metrics every 2 s, keeps the last 5 minutes in memory and
// derives per-function call rate, cold-start rate and latency (mean, p95) between samples.

import { ApiError, api } from './api.js';

export const SAMPLE_MS = 2000;
export const WINDOW_MS = 5 * 60_000;

/** Parse Prometheus text exposition into [{name, labels, value}] (comments and bad lines skipped). */
export function parsePrometheus(text) {
  const out = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)(\s+\S+)?$/.exec(line);
    if (!m) continue;
    out.push({ name: m[1], labels: m[2] ? parseLabels(m[2]) : {}, value: parseValue(m[3]) });
  }
  return out;
}

function parseValue(text) {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  return Number(text);
}

function parseLabels(block) {
  const labels = {};
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"/g;
  for (const m of block.matchAll(re)) {
    labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

const functionOf = (labels) => labels.function ?? labels.fn ?? labels.name;

/** Sum the series we chart, per function: calls, cold calls, duration sum/count and buckets. */
export function aggregate(samples) {
  const byFn = new Map();
  const get = (fn) => {
    let a = byFn.get(fn);
    if (!a) byFn.set(fn, (a = { calls: 0, cold: 0, durSum: 0, durCount: 0, buckets: new Map() }));
    return a;
  };
  for (const { name, labels, value } of samples) {
    const fn = functionOf(labels);
    if (fn === undefined || !Number.isFinite(value)) continue;
    if (name === 'tern_calls_total') {
      const a = get(fn);
      a.calls += value;
      if (labels.start === 'cold' || labels.cold === 'true') a.cold += value;
    } else if (name === 'tern_call_duration_seconds_sum') get(fn).durSum += value;
    else if (name === 'tern_call_duration_seconds_count') get(fn).durCount += value;
    else if (name === 'tern_call_duration_seconds_bucket' && labels.le !== undefined) {
      const a = get(fn);
      a.buckets.set(labels.le, (a.buckets.get(labels.le) ?? 0) + value);
    }
  }
  return byFn;
}

const ZERO = { calls: 0, cold: 0, durSum: 0, durCount: 0, buckets: new Map() };

/** The q-quantile (seconds) of the observations between two cumulative bucket maps. */
export function quantileFromBuckets(prev, cur, q) {
  const bounds = [...cur.keys()].map((le) => ({ le, bound: parseValue(le) })).sort((a, b) => a.bound - b.bound);
  const counts = bounds.map(({ le }) => (cur.get(le) ?? 0) - (prev.get(le) ?? 0));
  const total = counts.at(-1) ?? 0;
  if (total <= 0) return null;
  const target = q * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < bounds.length; i++) {
    const { bound } = bounds[i];
    if (counts[i] >= target) {
      if (!Number.isFinite(bound)) return lower;
      const inBucket = counts[i] - below;
      return inBucket > 0 ? lower + (bound - lower) * ((target - below) / inBucket) : bound;
    }
    lower = bound;
    below = counts[i];
  }
  return lower;
}

/** One point between two samples of one function; null values where nothing happened or a counter reset. */
function derive(prevSample, curSample, fn) {
  const prev = prevSample.fns.get(fn) ?? ZERO;
  const cur = curSample.fns.get(fn) ?? ZERO;
  const seconds = (curSample.t - prevSample.t) / 1000;
  const calls = cur.calls - prev.calls;
  const cold = cur.cold - prev.cold;
  const count = cur.durCount - prev.durCount;
  if (seconds <= 0 || calls < 0 || cold < 0 || count < 0)
    return { t: curSample.t, rate: null, coldRate: null, avgMs: null, p95Ms: null };
  const p95 = count > 0 ? quantileFromBuckets(prev.buckets, cur.buckets, 0.95) : null;
  return {
    t: curSample.t,
    rate: calls / seconds,
    coldRate: cold / seconds,
    avgMs: count > 0 ? ((cur.durSum - prev.durSum) / count) * 1000 : null,
    p95Ms: p95 === null ? null : p95 * 1000,
  };
}

/** The page-wide sampler: one per logged-in session, shared by every page. */
class MetricsSampler extends EventTarget {
  samples = [];
  state = { ok: true, error: undefined };
  #timer;

  start() {
    if (this.#timer !== undefined) return;
    const tick = async () => {
      await this.sampleOnce();
      this.#timer = setTimeout(tick, SAMPLE_MS);
    };
    this.#timer = setTimeout(tick, 0);
  }

  stop() {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.samples = [];
  }

  async sampleOnce() {
    try {
      const text = await api.metrics({ quietAuth: true });
      const t = Date.now();
      this.samples.push({ t, fns: aggregate(parsePrometheus(text)) });
      while (this.samples.length > 2 && this.samples[0].t < t - WINDOW_MS - SAMPLE_MS) this.samples.shift();
      this.state = { ok: true, error: undefined };
    } catch (e) {
      this.state = {
        ok: false,
        error: e instanceof ApiError && e.status === 404 ? 'this node publishes no /metrics' : e.message,
      };
    }
    this.dispatchEvent(new Event('sample'));
  }

  /** Points for one function over the window: [{t, rate, coldRate, avgMs, p95Ms}]. */
  series(fn) {
    const points = [];
    for (let i = 1; i < this.samples.length; i++) points.push(derive(this.samples[i - 1], this.samples[i], fn));
    return points;
  }

  /** Mean call rate of a function over the last `ms` (smooths the 2 s steps); null before two samples. */
  recentRate(fn, ms = 10_000) {
    const last = this.samples.at(-1);
    if (!last) return null;
    const first = this.samples.find((s) => s.t >= last.t - ms - SAMPLE_MS / 2) ?? last;
    if (first === last) return null;
    const calls = (last.fns.get(fn) ?? ZERO).calls - (first.fns.get(fn) ?? ZERO).calls;
    return calls < 0 ? null : calls / ((last.t - first.t) / 1000);
  }
}

export const sampler = new MetricsSampler();
