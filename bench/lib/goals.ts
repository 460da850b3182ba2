/** The goal figures, read off the measured scenarios — reported whether met or not. */
import type { Goal, LatencyScenario, MemoryScenario, Scenario } from './schema.js';

const NODE_HTTP = 'node:http (inline)';

function latency(scenarios: Scenario[], id: string): LatencyScenario | undefined {
  const s = scenarios.find((x) => x.id === id);
  return s?.kind === 'latency' ? s : undefined;
}

function memory(scenarios: Scenario[]): MemoryScenario | undefined {
  const s = scenarios.find((x) => x.kind === 'memory');
  return s?.kind === 'memory' ? s : undefined;
}

function goal(
  id: string,
  text: string,
  target: string,
  unit: string,
  measured: number | null | undefined,
  met: (v: number) => boolean,
): Goal {
  const m = measured ?? null;
  return { id, text, target, unit, measured: m, met: m === null ? null : met(m) };
}

/**
 * The smallest ratio, over every core count, of a Tern row of `runtime` and `workload` (1 hello,
 * 2 sieve) to node:http in as many processes as cores: throughput must grow with every core.
 */
function worstScaling(scenarios: Scenario[], runtime: string, workload: number): number | null {
  const rows = latency(scenarios, 'core-scaling')?.rows.filter(
    (r) => r.role === 'tern' && r.runtime === runtime && r.extra?.workload === workload,
  );
  const ratios = (rows ?? []).map((r) => r.vs[0]?.ratio).filter((v): v is number => typeof v === 'number');
  return ratios.length === 0 ? null : Math.min(...ratios);
}

function scalingGoals(scenarios: Scenario[]): Goal[] {
  const scaling = (runtime: string, workload: number, label: string, min: number): Goal =>
    goal(
      `scaling-${runtime}-${workload === 1 ? 'hello' : 'sieve'}`,
      `${label} vs node:http in N processes on N cores, worst N`,
      `≥ ${min}×`,
      '×',
      worstScaling(scenarios, runtime, workload),
      (v) => v >= min,
    );
  return [
    scaling('wasm', 1, 'Warm wasm hello', 0.5),
    scaling('wasm', 2, 'Warm wasm sieve n=10000', 0.7),
    scaling('python', 1, 'Warm python hello', 0.3),
    scaling('node', 1, 'Warm node hello', 0.3),
  ];
}

export function evaluateGoals(scenarios: Scenario[]): Goal[] {
  const warm = latency(scenarios, 'warm-http');
  const wasmWarm = warm?.rows.find((r) => r.role === 'tern' && r.runtime === 'wasm');
  const warmRatio = wasmWarm?.vs.find((v) => v.reference === NODE_HTTP)?.ratio;
  const cold = latency(scenarios, 'cold-start');
  const coldMedian = (runtime: string) => cold?.rows.find((r) => r.role === 'tern' && r.runtime === runtime)?.medianMs;
  const wasmDensity = memory(scenarios)?.rows.find((r) => r.runtime === 'wasm')?.instancesPerGiB;
  const workflow = latency(scenarios, 'workflow')?.rows.find((r) => r.role === 'tern')?.extra?.engineMsPerStateMedian;
  return [
    goal(
      'warm-wasm-http',
      'Warm wasm hello over HTTP, throughput vs bare node:http',
      '≥ 0.8×',
      '×',
      warmRatio,
      (v) => v >= 0.8,
    ),
    goal('cold-wasm', 'Cold start, wasm (median)', '< 1 ms', 'ms', coldMedian('wasm'), (v) => v < 1),
    goal('cold-python', 'Cold start, python (median)', '< 50 ms', 'ms', coldMedian('python'), (v) => v < 50),
    goal('cold-node', 'Cold start, node (median)', '< 50 ms', 'ms', coldMedian('node'), (v) => v < 50),
    goal('wasm-density', 'Idle warm wasm instances per GiB', '> 1,000', 'instances', wasmDensity, (v) => v > 1000),
    goal(
      'workflow-overhead',
      'Workflow engine time per state, 3-Task sequence of a warm wasm function (median, node account)',
      '≤ 0.2 ms',
      'ms',
      typeof workflow === 'number' ? workflow : null,
      (v) => v <= 0.2,
    ),
    ...scalingGoals(scenarios),
  ];
}
