/**
 * Tern's benchmark suite: `make bench` (or `node dist/bench/run.js`). Starts what it needs on loopback —
 * real `tern serve` nodes, a bare node:http server, workerd — runs bounded loads, stops everything
 * (also on failure or Ctrl-C), and writes bench/results/<date>.json and .md.
 *
 *   --quick        tiny loads (the test suite's smoke run); writes to a temp folder unless --out
 *   --out DIR      where to write the results
 *   --only IDS     comma-separated: warm-http,cold-start,sieve,protocols,workflow,memory,components,core-scaling
 *   --scaling S    core-scaling load as WARMUP,MEASURE seconds (default 3,8; shorter on a lent machine)
 *   --render FILE  only re-render FILE.json's Markdown beside it (after a change to the tables)
 */
import { mkdir, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import type { ChildServer } from './lib/child-server.js';
import { cleanupAll, cleanupOnSignals, interrupted } from './lib/cleanup.js';
import { deployExample } from './lib/deploy.js';
import { evaluateGoals } from './lib/goals.js';
import { log, reason } from './lib/log.js';
import { machineInfo, sourceInfo } from './lib/machine.js';
import { REPO, RESULTS } from './lib/paths.js';
import { FULL_PLAN, QUICK_PLAN, type Plan } from './lib/plan.js';
import { RESULT_SCHEMA_ID, resultFileSchema, type Component, type ResultFile, type Scenario } from './lib/schema.js';
import { goalsTable, renderMarkdown } from './lib/table.js';
import { startTernNode } from './lib/tern-node.js';
import { startBareHttp, startWorkerd } from './reference/servers.js';
import { coldStart, deployColdCopies } from './scenarios/cold-start.js';
import { coreScaling } from './scenarios/core-scaling.js';
import { componentBenches } from './scenarios/components.js';
import type { Peers, ScenarioContext } from './scenarios/context.js';
import { memoryScenario } from './scenarios/memory.js';
import { protocolsScenario } from './scenarios/protocols.js';
import { SIEVE_TARGETS, sieveScenario } from './scenarios/sieve.js';
import { HELLO_TARGETS, warmHttp } from './scenarios/warm-http.js';
import { workflowScenario } from './scenarios/workflow.js';

export const SCENARIO_IDS = [
  'warm-http',
  'cold-start',
  'sieve',
  'protocols',
  'workflow',
  'memory',
  'components',
  'core-scaling',
] as const;
type ScenarioId = (typeof SCENARIO_IDS)[number];

export interface RunOptions {
  quick: boolean;
  out?: string;
  only?: ScenarioId[];
  /** Core-scaling warm-up and measured seconds per target. */
  scaling?: { warmupS: number; durationS: number };
}

export interface RunOutcome {
  json: string;
  markdown: string;
  result: ResultFile;
}

const NODE_SCENARIOS: Array<[ScenarioId, (ctx: ScenarioContext) => Promise<Scenario>]> = [
  ['warm-http', warmHttp],
  ['cold-start', coldStart],
  ['sieve', sieveScenario],
  ['protocols', protocolsScenario],
  ['workflow', workflowScenario],
];

function failed(id: string, e: unknown): Scenario {
  return {
    id,
    title: id,
    kind: 'latency',
    ratio: 'throughput',
    method: 'did not run',
    skipped: [{ target: 'scenario', reason: reason(e) }],
    rows: [],
  };
}

async function startPeer(label: string, start: () => Promise<ChildServer>): Promise<ChildServer | string> {
  try {
    return await start();
  } catch (e) {
    log(`${label} did not start: ${reason(e)}`);
    return `${label} did not start: ${reason(e)}`;
  }
}

/** Scenarios 1–5 on one shared node with the examples deployed and both peers running. */
async function nodeScenarios(plan: Plan, wanted: (id: ScenarioId) => boolean): Promise<Scenario[]> {
  const ids = NODE_SCENARIOS.filter(([id]) => wanted(id));
  if (ids.length === 0) return [];
  log('starting a tern node and the reference peers');
  const node = await startTernNode();
  const peers: Peers = {
    bare: await startPeer('node:http reference', startBareHttp),
    workerd: await startPeer('workerd', startWorkerd),
  };
  try {
    const ctx: ScenarioContext = { plan, node, peers };
    const examples = [...HELLO_TARGETS.map((t) => t.example), ...SIEVE_TARGETS.map((t) => t.example)];
    for (const example of examples) {
      try {
        await deployExample(node, example, example);
      } catch (e) {
        log(`deploy ${example} failed: ${reason(e)}`);
      }
    }
    if (wanted('cold-start'))
      await deployColdCopies(ctx).catch((e: unknown) => log(`deploying the single-use copies failed: ${reason(e)}`));
    const out: Scenario[] = [];
    for (const [id, run] of ids) {
      if (interrupted()) break;
      try {
        out.push(await run(ctx));
      } catch (e) {
        log(`${id} failed: ${reason(e)}`);
        out.push(failed(id, e));
      }
    }
    return out;
  } finally {
    for (const peer of [peers.bare, peers.workerd]) if (typeof peer !== 'string') await peer.stop();
    await node.stop();
  }
}

function stamp(date: Date): string {
  return date.toISOString().slice(0, 10);
}

async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

export async function runBench(o: RunOptions): Promise<RunOutcome> {
  const basePlan = o.quick ? QUICK_PLAN : FULL_PLAN;
  const plan: Plan = o.scaling ? { ...basePlan, scaling: { ...basePlan.scaling, ...o.scaling } } : basePlan;
  const wanted = (id: ScenarioId) => o.only === undefined || o.only.includes(id);
  const started = new Date();
  const t0 = performance.now();
  const source = sourceInfo(REPO);
  const scenarios: Scenario[] = [];
  let components: Component[] = [];
  try {
    scenarios.push(...(await nodeScenarios(plan, wanted)));
    if (wanted('memory') && !interrupted()) {
      try {
        scenarios.push(await memoryScenario(plan));
      } catch (e) {
        scenarios.push(failed('memory', e));
      }
    }
    if (wanted('core-scaling') && !interrupted()) {
      try {
        scenarios.push(await coreScaling(plan));
      } catch (e) {
        scenarios.push(failed('core-scaling', e));
      }
    }
    if (wanted('components') && !interrupted()) components = await componentBenches(plan);
  } finally {
    await cleanupAll();
  }
  if (interrupted()) throw new Error('interrupted: no results written');
  const result = resultFileSchema.parse({
    schema: RESULT_SCHEMA_ID,
    date: started.toISOString(),
    quick: plan.quick,
    elapsedS: Math.round((performance.now() - t0) / 100) / 10,
    machine: machineInfo(),
    source,
    scenarios,
    components,
    goals: evaluateGoals(scenarios),
  });
  const outDir = o.out ?? (o.quick ? await mkdtemp(join(tmpdir(), 'tern-bench-results-')) : RESULTS);
  await mkdir(outDir, { recursive: true });
  const base = join(outDir, stamp(started));
  const markdown = renderMarkdown(result);
  await writeAtomically(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  await writeAtomically(`${base}.md`, markdown);
  return { json: `${base}.json`, markdown: `${base}.md`, result };
}

function parseOnly(value: string): ScenarioId[] {
  const ids = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const id of ids)
    if (!(SCENARIO_IDS as readonly string[]).includes(id))
      throw new Error(`--only: unknown scenario "${id}" (known: ${SCENARIO_IDS.join(', ')})`);
  return ids as ScenarioId[];
}

function parseScaling(value: string): { warmupS: number; durationS: number } {
  const m = /^(\d{1,3}),(\d{1,3})$/.exec(value.trim());
  if (!m || Number(m[2]) < 1) throw new Error('--scaling: expected WARMUP,MEASURE in whole seconds, e.g. 2,5');
  return { warmupS: Number(m[1]), durationS: Number(m[2]) };
}

async function main(): Promise<void> {
  const program = new Command('bench')
    .description("Tern's benchmark suite")
    .option('--quick', 'tiny loads; results to a temp folder unless --out')
    .option('--out <dir>', 'folder for <date>.json and <date>.md')
    .option('--only <ids>', `comma-separated subset of ${SCENARIO_IDS.join(',')}`)
    .option('--render <file>', "re-render a results .json's Markdown beside it, run nothing")
    .option('--scaling <warmup,measure>', 'core-scaling seconds per target (default 3,8)')
    .parse();
  const flags = program.opts<{ quick?: boolean; out?: string; only?: string; render?: string; scaling?: string }>();
  if (flags.render) {
    const result = resultFileSchema.parse(JSON.parse(await readFile(flags.render, 'utf8')));
    const md = flags.render.replace(/\.json$/, '') + '.md';
    await writeAtomically(md, renderMarkdown(result));
    process.stdout.write(`${md}\n`);
    return;
  }
  cleanupOnSignals();
  const outcome = await runBench({
    quick: flags.quick === true,
    ...(flags.out ? { out: flags.out } : {}),
    ...(flags.only ? { only: parseOnly(flags.only) } : {}),
    ...(flags.scaling ? { scaling: parseScaling(flags.scaling) } : {}),
  });
  process.stdout.write(
    `${goalsTable(outcome.result.goals)}\n\nresults: ${outcome.json}\n         ${outcome.markdown}\n`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    // Exit explicitly: a component bench that overran its bound may still hold timers.
    () => process.exit(0),
    async (e: unknown) => {
      // Interrupted: the signal handler is cleaning up and exits 130 when done.
      if (interrupted()) return;
      process.stderr.write(`bench: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      await cleanupAll();
      process.exit(1);
    },
  );
}
