/**
 * Bounded HTTP loads with autocannon: `connections` keep-alive connections per target. Latencies
 * come from autocannon's own per-response timer (hrtime, sub-millisecond), collected here because its
 * histogram rounds to whole milliseconds.
 *
 * `compareLoads` measures several targets in interleaved rounds (A B C, A B C, …) so that load
 * from elsewhere on a shared machine falls on all of them alike, not on whichever ran at the time.
 */
import { createRequire } from 'node:module';
import { round, summarise } from './stats.js';

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  body?: string;
  connections: number;
  /** Checked on one request before the load: returns why the answer is wrong, or null. */
  check?: (status: number, body: string) => string | null;
}

export interface LoadResult {
  /** 2xx responses per second. */
  rps: number;
  medianMs: number;
  p99Ms: number;
  requests: number;
  /** Errors, timeouts and non-2xx answers. */
  errors: number;
  durationS: number;
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  requests: { total: number };
}

interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  on(
    event: 'response',
    listener: (client: unknown, statusCode: number, resBytes: number, responseTime: number) => void,
  ): void;
}

type Autocannon = (opts: Record<string, unknown>) => AutocannonInstance;

const MAX_SAMPLES_PER_RUN = 2_000_000;
const REQUEST_TIMEOUT_S = 10;

// autocannon ships no type declarations: load it untyped and describe the part we use.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

async function checkOnce(o: LoadOptions): Promise<void> {
  const res = await fetch(o.url, {
    method: o.method ?? 'GET',
    ...(o.body !== undefined ? { body: o.body } : {}),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  const wrong = res.status < 200 || res.status > 299 ? `answered ${res.status}` : (o.check?.(res.status, text) ?? null);
  if (wrong !== null) throw new Error(`${o.method ?? 'GET'} ${o.url}: ${wrong}: ${text.slice(0, 300)}`);
}

/** One autocannon run; 2xx latencies go to `sink` when given. */
async function run(o: LoadOptions, durationMs: number, sink: number[] | null): Promise<AutocannonResult> {
  const instance = autocannon({
    url: o.url,
    method: o.method ?? 'GET',
    ...(o.body !== undefined ? { body: o.body } : {}),
    connections: o.connections,
    duration: durationMs / 1000,
    timeout: REQUEST_TIMEOUT_S,
    // autocannon checks its stop flag on this tick: 100 ms keeps short runs short and durations exact.
    sampleInt: 100,
  });
  if (sink !== null) {
    let kept = 0;
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode < 300 && kept++ < MAX_SAMPLES_PER_RUN) sink.push(responseTime);
    });
  }
  return instance;
}

/** Check each target's answer once and warm it up (`warmupMs` of the same load). */
export async function prepareLoad(o: LoadOptions, warmupMs: number): Promise<void> {
  await checkOnce(o);
  if (warmupMs > 0) await run(o, warmupMs, null);
}

export type LoadOutcome = { ok: true; result: LoadResult } | { ok: false; error: unknown };

/**
 * Each target for `rounds` × `roundMs`, interleaved; figures pooled over the rounds. A target that
 * fails its check, warm-up or a round is dropped from later rounds and reported as failed.
 */
export async function compareLoads(
  targets: LoadOptions[],
  o: { warmupMs: number; rounds: number; roundMs: number },
): Promise<LoadOutcome[]> {
  const state = targets.map(() => ({
    samples: [] as number[],
    ok: 0,
    errors: 0,
    seconds: 0,
    error: undefined as unknown,
    failed: false,
  }));
  for (let i = 0; i < targets.length; i++) {
    try {
      await prepareLoad(targets[i]!, o.warmupMs);
    } catch (e) {
      state[i]!.failed = true;
      state[i]!.error = e;
    }
  }
  for (let r = 0; r < o.rounds; r++) {
    for (let i = 0; i < targets.length; i++) {
      const s = state[i]!;
      if (s.failed) continue;
      try {
        const result = await run(targets[i]!, o.roundMs, s.samples);
        s.ok += Math.max(0, result.requests.total - result.non2xx);
        s.errors += result.errors + result.timeouts + result.non2xx;
        s.seconds += result.duration;
      } catch (e) {
        s.failed = true;
        s.error = e;
      }
    }
  }
  return state.map((s): LoadOutcome => {
    if (s.failed) return { ok: false, error: s.error };
    const latency = summarise(s.samples);
    return {
      ok: true,
      result: {
        rps: round(s.ok / Math.max(s.seconds, 0.001), 1),
        medianMs: latency.medianMs,
        p99Ms: latency.p99Ms,
        requests: s.ok,
        errors: s.errors,
        durationS: round(s.seconds, 3),
      },
    };
  });
}

/** One target alone: check, warm up, `durationMs` measured. */
export async function httpLoad(o: LoadOptions & { durationMs: number; warmupMs: number }): Promise<LoadResult> {
  const [outcome] = await compareLoads([o], { warmupMs: o.warmupMs, rounds: 1, roundMs: o.durationMs });
  if (!outcome!.ok) throw outcome!.error;
  return outcome!.result;
}
