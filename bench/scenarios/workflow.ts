/**
 * Scenario 5: what a workflow adds. A 3-Task sequence of a warm wasm function (square, kept warm:
 * single-use off) run at /wf/{name}, against calling the same function three times in a row over
 * HTTP. The figure that matters is the node's own account of the run: its total less the three
 * calls' own time (each call's report totalMs), per state — what the workflow engine adds.
 */
import { deployExample } from '../lib/deploy.js';
import { log } from '../lib/log.js';
import type { LatencyScenario, Measurement } from '../lib/schema.js';
import { quantile, round, summarise } from '../lib/stats.js';
import type { ScenarioContext } from './context.js';

export const WORKFLOW_FN = 'square-warm';
export const WORKFLOW_NAME = 'square3';
const STATES = 3;
export const DIRECT_TARGET = 'direct: 3 sequential calls';
export const WORKFLOW_TARGET = 'tern workflow: 3 Task states';

const DEFINITION = {
  Comment: 'the bench: three warm wasm calls in a row',
  StartAt: 'A',
  States: {
    A: { Type: 'Task', Resource: WORKFLOW_FN, Next: 'B' },
    B: { Type: 'Task', Resource: WORKFLOW_FN, Next: 'C' },
    C: { Type: 'Task', Resource: WORKFLOW_FN, End: true },
  },
};

interface Sample {
  clientMs: number;
  nodeMs: number;
  /** Workflow only: the engine's part per state (run total less the calls' own time, ÷ 3). */
  perStateMs?: number;
}

async function callSquare(url: string, x: number): Promise<{ value: number; nodeMs: number }> {
  const res = await fetch(`${url}/fn/${WORKFLOW_FN}`, { method: 'POST', body: String(x) });
  const value = Number(await res.text());
  if (res.status !== 200) throw new Error(`square answered ${res.status}`);
  const report = JSON.parse(res.headers.get('x-tern-report') ?? '{}') as { totalMs?: number };
  return { value, nodeMs: report.totalMs ?? 0 };
}

async function direct(url: string): Promise<Sample> {
  const t0 = performance.now();
  let x = 2;
  let nodeMs = 0;
  for (let i = 0; i < STATES; i++) {
    const r = await callSquare(url, x);
    x = r.value;
    nodeMs += r.nodeMs;
  }
  const clientMs = performance.now() - t0;
  if (x !== 256) throw new Error(`direct calls gave ${x}, not 256`);
  return { clientMs, nodeMs };
}

async function viaWorkflow(url: string): Promise<Sample> {
  const t0 = performance.now();
  const res = await fetch(`${url}/wf/${WORKFLOW_NAME}`, { method: 'POST', body: '2' });
  const text = await res.text();
  const clientMs = performance.now() - t0;
  if (res.status !== 200 || text !== '256') throw new Error(`the workflow answered ${res.status} ${text}`);
  const report = JSON.parse(res.headers.get('x-tern-report') ?? '{}') as { totalMs: number; overheadMs: number };
  return { clientMs, nodeMs: report.totalMs, perStateMs: report.overheadMs / STATES };
}

function row(
  target: string,
  role: 'tern' | 'reference',
  samples: Sample[],
  elapsedMs: number,
  extra: Measurement['extra'],
): Measurement {
  const client = summarise(samples.map((s) => s.clientMs));
  return {
    target,
    role,
    runtime: 'wasm',
    medianMs: client.medianMs,
    p99Ms: client.p99Ms,
    rps: round((samples.length / elapsedMs) * 1000, 1),
    requests: samples.length,
    errors: 0,
    vs: [],
    extra: { nodeMedianMs: summarise(samples.map((s) => s.nodeMs)).medianMs, ...extra },
  };
}

export async function workflowScenario(ctx: ScenarioContext): Promise<LatencyScenario> {
  const { node, plan } = ctx;
  await deployExample(node, 'square', WORKFLOW_FN, { 'single-use': false, 'min-instances': 1 });
  const put = await node.api(
    'PUT',
    `/v1/workflows/${WORKFLOW_NAME}`,
    Buffer.from(JSON.stringify(DEFINITION)),
    'application/json',
  );
  if (put.status !== 201 && put.status !== 200)
    throw new Error(`deploying the workflow answered ${put.status}: ${await put.text()}`);
  const rounds = plan.quick ? 30 : 3000;
  const warmup = plan.quick ? 10 : 300;
  log(`workflow: ${warmup} warm-up and ${rounds} measured rounds, direct and workflow interleaved`);
  for (let i = 0; i < warmup; i++) {
    await direct(node.url);
    await viaWorkflow(node.url);
  }
  const directs: Sample[] = [];
  const runs: Sample[] = [];
  let directMs = 0;
  let runMs = 0;
  for (let i = 0; i < rounds; i++) {
    let t = performance.now();
    directs.push(await direct(node.url));
    directMs += performance.now() - t;
    t = performance.now();
    runs.push(await viaWorkflow(node.url));
    runMs += performance.now() - t;
  }
  const perState = Float64Array.from(runs.map((s) => s.perStateMs ?? 0)).sort();
  const directRow = row(DIRECT_TARGET, 'reference', directs, directMs, {});
  const runRow = row(WORKFLOW_TARGET, 'tern', runs, runMs, {
    engineMsPerStateMedian: round(quantile(perState, 0.5), 4),
    engineMsPerStateP99: round(quantile(perState, 0.99), 4),
  });
  runRow.vs = [
    { reference: DIRECT_TARGET, ratio: directRow.medianMs > 0 ? round(runRow.medianMs / directRow.medianMs) : null },
  ];
  return {
    id: 'workflow',
    title: 'A 3-Task workflow of a warm wasm function vs the three calls made directly',
    kind: 'latency',
    ratio: 'latency',
    method: `one client, sequential: ${rounds} rounds (after ${warmup} warm-up rounds), each round three POST /fn/${WORKFLOW_FN} in a row (2 → 4 → 16 → 256) then one POST /wf/${WORKFLOW_NAME} doing the same in three Task states. Latency is the client's; nodeMedianMs is the node's own account (the sum of the three calls' report totalMs, or the run's totalMs); engineMsPerState is the run's totalMs less its calls' totalMs, divided by 3. Ratio: median ÷ the direct calls' median.`,
    skipped: [],
    rows: [directRow, runRow],
  };
}
