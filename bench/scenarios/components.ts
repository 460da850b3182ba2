/**
 * Per-component figures from the other bench files (pool overhead, wasm, process, micro-VM, container, offload).
 * Each is imported dynamically and run under a time bound; one that is missing, throws or overruns is
 * reported as skipped with the reason — never fatal to the run.
 */
import { log, reason } from '../lib/log.js';
import type { Plan } from '../lib/plan.js';
import type { Component } from '../lib/schema.js';
import { round } from '../lib/stats.js';

interface ComponentBench {
  name: string;
  /** Module path relative to this file's folder in dist/bench/scenarios/. */
  module: string;
  exportName: string;
  args: (plan: Plan) => unknown[];
}

export const COMPONENT_BENCHES: ComponentBench[] = [
  {
    name: 'pool overhead',
    module: '../pool-overhead.js',
    exportName: 'benchPoolOverhead',
    args: (p) => [p.quick ? 2_000 : 100_000],
  },
  { name: 'wasm runtime', module: '../wasm.js', exportName: 'benchWasm', args: (p) => [p.quick ? { calls: 100 } : {}] },
  // benchProcess(coldRuns, warmCalls); its defaults (30, 3000) for the full run.
  {
    name: 'process runtime',
    module: '../process.js',
    exportName: 'benchProcess',
    args: (p) => (p.quick ? [3, 50] : []),
  },
  { name: 'micro-VM runtime', module: '../microvm.js', exportName: 'benchMicrovm', args: () => [] },
  // Cold start per OCI runtime (crun, runc, runsc): bench/container.ts.
  {
    name: 'container runtime',
    module: '../container.js',
    exportName: 'benchContainers',
    args: (p) => [p.quick ? { coldStarts: 2, warmCalls: 10 } : {}],
  },
  // benchOffload(samples): its minimum is 10; default 300.
  { name: 'offload hop', module: '../offload.js', exportName: 'benchOffload', args: (p) => (p.quick ? [10] : []) },
];

type Figure = number | string | boolean | null;

/** Nested results as flat `a.b` keys; numbers rounded, non-finite numbers as null. */
export function flattenFigures(value: unknown, prefix = '', out: Record<string, Figure> = {}): Record<string, Figure> {
  if (value === null || value === undefined) {
    if (prefix) out[prefix] = null;
  } else if (typeof value === 'number') {
    out[prefix || 'value'] = Number.isFinite(value) ? round(value, 4) : null;
  } else if (typeof value === 'string' || typeof value === 'boolean') {
    out[prefix || 'value'] = value;
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => flattenFigures(v, prefix ? `${prefix}.${i}` : String(i), out));
  } else if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) flattenFigures(v, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function runOne(b: ComponentBench, plan: Plan): Promise<Component> {
  const source = `bench/${b.module.replace(/^\.\.\//, '').replace(/\.js$/, '.ts')}`;
  const t0 = performance.now();
  const seconds = () => round((performance.now() - t0) / 1000, 2);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(new URL(b.module, import.meta.url).href)) as Record<string, unknown>;
  } catch (e) {
    return {
      name: b.name,
      source,
      status: 'skipped',
      reason: `not available: ${reason(e)}`,
      seconds: seconds(),
      figures: {},
    };
  }
  const fn = mod[b.exportName];
  if (typeof fn !== 'function')
    return {
      name: b.name,
      source,
      status: 'skipped',
      reason: `${source} exports no ${b.exportName}()`,
      seconds: seconds(),
      figures: {},
    };
  try {
    const result: unknown = await withTimeout(
      Promise.resolve((fn as (...a: unknown[]) => unknown)(...b.args(plan))),
      plan.componentTimeoutMs,
    );
    return { name: b.name, source, status: 'ok', seconds: seconds(), figures: flattenFigures(result) };
  } catch (e) {
    return { name: b.name, source, status: 'skipped', reason: `failed: ${reason(e)}`, seconds: seconds(), figures: {} };
  }
}

export async function componentBenches(plan: Plan): Promise<Component[]> {
  const out: Component[] = [];
  for (const b of COMPONENT_BENCHES) {
    log(`component: ${b.name}`);
    const c = await runOne(b, plan);
    if (c.status === 'skipped') log(`component: ${b.name} skipped: ${c.reason}`);
    out.push(c);
  }
  return out;
}
