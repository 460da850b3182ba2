/**
 * Scenario 2: cold start per runtime. Each function is deployed as a copy with `single-use = true`, so
 * no warm instance ever serves: every call starts an instance. Calls are sequential (one in flight),
 * so each start has the machine to itself, like the references: a plain spawn of the same interpreter
 * or program, and the wasm module instantiated inline in-process.
 *
 * Python instances are forked from the function's zygote (src/runtimes/process/zygote.ts): beside
 * the interpreter printing a line, a bare `python3 -c pass` spawn is measured, the figure the
 * zygote's goal (≤ 0.5×) is set against, and the tern row's e2e (client HTTP) median is compared
 * with it too (extra.e2eVsBarePythonSpawn).
 *
 * The cold start of a call is the node's own account in X-Tern-Report: initMs (starting the instance)
 * + runMs (the function answering) — request in, response out of the instance, as the references time
 * it. The client-side HTTP latency of the same calls is kept beside it (extra.e2e*).
 */
import { join } from 'node:path';
import { deployExample } from '../lib/deploy.js';
import { log, reason } from '../lib/log.js';
import { EXAMPLES } from '../lib/paths.js';
import { PYTHON } from '../../src/runtimes/process/deps.js';
import type { LatencyScenario, Measurement, Skipped } from '../lib/schema.js';
import { round, summarise } from '../lib/stats.js';
import { spawnOnce, wasmInlineRunner } from '../reference/cold.js';
import { ratio, type ScenarioContext } from './context.js';
import { BODY, HELLO_TARGETS, type HelloTarget } from './warm-http.js';

export const COLD_SUFFIX = '-cold';

interface ReportHeader {
  cold?: unknown;
  initMs?: unknown;
  runMs?: unknown;
  totalMs?: unknown;
}

/** Run `once` sequentially until `samples` are taken or `maxMs` passed (at least one sample). */
async function sequential(
  samples: number,
  maxMs: number,
  once: () => Promise<number>,
): Promise<{ samples: number[]; elapsedS: number }> {
  const out: number[] = [];
  const t0 = performance.now();
  while (out.length < samples && (out.length === 0 || performance.now() - t0 < maxMs)) out.push(await once());
  return { samples: out, elapsedS: (performance.now() - t0) / 1000 };
}

/** Deploy the single-use copies this scenario calls (before any load, so deploy cost stays out). */
export async function deployColdCopies(ctx: ScenarioContext): Promise<void> {
  for (const t of HELLO_TARGETS)
    await deployExample(ctx.node, t.example, `${t.example}${COLD_SUFFIX}`, { 'single-use': true, 'min-instances': 0 });
}

async function ternCold(ctx: ScenarioContext, t: HelloTarget, count: number): Promise<Measurement> {
  const url = `${ctx.node.url}/fn/${t.example}${COLD_SUFFIX}`;
  const cold: number[] = [];
  const e2e: number[] = [];
  const total: number[] = [];
  const init: number[] = [];
  let errors = 0;
  const { elapsedS } = await sequential(count, ctx.plan.cold.maxMs, async () => {
    const t0 = performance.now();
    const res = await fetch(url, { method: 'POST', body: BODY, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    const ms = performance.now() - t0;
    const report = JSON.parse(res.headers.get('x-tern-report') ?? '{}') as ReportHeader;
    if (res.status !== 200 || !text.includes(t.expect))
      throw new Error(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
    // A wasm instance is a warm execution context that instantiates the module afresh for every
    // call (runtime.ts, freshPerCall): each call is a fresh instance though the lease is kept.
    const fresh = report.cold === true || t.runtime === 'wasm';
    if (!fresh || typeof report.initMs !== 'number' || typeof report.runMs !== 'number') {
      errors += 1; // served warm or without a report: not a cold start, not counted
      return ms;
    }
    cold.push(report.initMs + report.runMs);
    init.push(report.initMs);
    if (typeof report.totalMs === 'number') total.push(report.totalMs);
    e2e.push(ms);
    return ms;
  });
  if (cold.length === 0) throw new Error(`no call to ${url} was a cold start (${errors} warm)`);
  const s = summarise(cold);
  const e = summarise(e2e);
  return {
    target: `tern ${t.runtime} (${t.example}, single-use)`,
    role: 'tern',
    runtime: t.runtime,
    medianMs: s.medianMs,
    p99Ms: s.p99Ms,
    rps: round(cold.length / elapsedS, 1),
    requests: cold.length,
    errors,
    vs: [],
    extra: {
      e2eMedianMs: e.medianMs,
      e2eP99Ms: e.p99Ms,
      initMedianMs: summarise(init).medianMs,
      nodeTotalMedianMs: total.length ? summarise(total).medianMs : null,
    },
  };
}

interface ColdReference {
  target: string;
  once: () => Promise<number>;
  close?: () => void;
}

async function referenceFor(t: HelloTarget): Promise<ColdReference> {
  switch (t.runtime) {
    case 'wasm': {
      const runner = await wasmInlineRunner(join(EXAMPLES, t.example, 'hello.wasm'));
      return { target: 'wasm inline (node:wasi, in-process)', once: runner.run, close: runner.close };
    }
    case 'python':
      // The interpreter Tern's python runtime runs (not whatever python3 is first on PATH).
      return {
        target: 'python3 -c (spawn)',
        once: () =>
          spawnOnce(PYTHON, ['-c', "import sys; sys.stdout.write('Hello from python!\\n')"], {
            expect: 'Hello from python',
          }),
      };
    case 'node':
      return {
        target: 'node -e (spawn)',
        once: () =>
          spawnOnce(process.execPath, ['-e', "process.stdout.write('Hello from node!\\n')"], {
            expect: 'Hello from node',
          }),
      };
    case 'binary':
      return {
        target: 'sh echo.sh (spawn)',
        once: () =>
          spawnOnce('/bin/sh', [join(EXAMPLES, t.example, 'echo.sh')], {
            env: { PATH: '/usr/bin:/bin', REQUEST_METHOD: 'POST', PATH_INFO: '/', QUERY_STRING: '' },
            stdin: BODY,
            expect: `body: ${BODY}`,
          }),
      };
  }
}

async function referenceCold(ref: ColdReference, count: number, maxMs: number): Promise<Measurement> {
  try {
    const { samples, elapsedS } = await sequential(count, maxMs, ref.once);
    const s = summarise(samples);
    return {
      target: ref.target,
      role: 'reference',
      runtime: null,
      medianMs: s.medianMs,
      p99Ms: s.p99Ms,
      rps: round(samples.length / elapsedS, 1),
      requests: samples.length,
      errors: 0,
      vs: [],
      extra: {},
    };
  } finally {
    ref.close?.();
  }
}

const BARE_PYTHON: ColdReference = {
  target: 'python3 -c pass (spawn)',
  once: () => spawnOnce(PYTHON, ['-c', 'pass'], { expect: '' }),
};

export async function coldStart(ctx: ScenarioContext): Promise<LatencyScenario> {
  const { plan } = ctx;
  const rows: Measurement[] = [];
  const skipped: Skipped[] = [];
  for (const t of HELLO_TARGETS) {
    const count = t.runtime === 'wasm' ? plan.cold.wasmSamples : plan.cold.processSamples;
    let bare: Measurement | undefined;
    if (t.runtime === 'python') {
      try {
        log(`cold-start: ${BARE_PYTHON.target}`);
        bare = await referenceCold(BARE_PYTHON, count, plan.cold.maxMs);
        rows.push(bare);
      } catch (e) {
        skipped.push({ target: BARE_PYTHON.target, reason: reason(e) });
      }
    }
    let reference: Measurement | undefined;
    try {
      const ref = await referenceFor(t);
      log(`cold-start: ${ref.target}`);
      reference = await referenceCold(ref, count, plan.cold.maxMs);
      rows.push(reference);
    } catch (e) {
      skipped.push({ target: `${t.runtime} reference`, reason: reason(e) });
    }
    const target = `tern ${t.runtime} (${t.example}, single-use)`;
    try {
      log(`cold-start: ${target}`);
      const row = await ternCold(ctx, t, count);
      if (reference) row.vs = [{ reference: reference.target, ratio: ratio(row.medianMs, reference.medianMs) }];
      if (bare) {
        row.vs.push({ reference: bare.target, ratio: ratio(row.medianMs, bare.medianMs) });
        row.extra = { ...row.extra, e2eVsBarePythonSpawn: ratio(Number(row.extra?.e2eMedianMs), bare.medianMs) };
      }
      rows.push(row);
    } catch (e) {
      skipped.push({ target, reason: reason(e) });
    }
  }
  return {
    id: 'cold-start',
    title: 'Cold start of a hello function (no warm instance)',
    kind: 'latency',
    ratio: 'latency',
    method: `Copies of the hello functions deployed with single-use = true; up to ${plan.cold.wasmSamples} (wasm) or ${plan.cold.processSamples} (process runtimes) sequential POSTs, at most ${plan.cold.maxMs / 1000} s each. Tern's figure is initMs + runMs from X-Tern-Report (instance start + the function answering; wasm instantiates the module afresh in every call's runMs, so every wasm call counts); the client-side HTTP latency is in extra.e2eMedianMs. References: a plain spawn of the same interpreter/program until it exits, or the module instantiated and run inline. req/s here is starts per second, one at a time. Ratio: median ÷ the reference's median (lower is better).`,
    skipped,
    rows,
  };
}
