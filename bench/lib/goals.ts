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
  ];
}
