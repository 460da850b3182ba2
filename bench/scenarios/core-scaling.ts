/**
 * Core scaling: does throughput grow with the cores a node is given? For N = 1, 2, 4 … (up to half
 * the machine) the server under test is pinned with `taskset` to cores 0..N-1 and Debian's `wrk`
 * (multi-threaded) to the other half, so the generator never competes with the server nor caps it.
 * References in the same run: the bare node:http server in one process and in N processes
 * (node:cluster, one per core) on the same N cores. Tern runs `tern serve --loops N` on those cores.
 */
import { availableParallelism } from 'node:os';
import { startChildServer, waitForListeningLine, type ChildServer } from '../lib/child-server.js';
import { deployExample } from '../lib/deploy.js';
import { log, reason } from '../lib/log.js';
import { DIST_BENCH } from '../lib/paths.js';
import type { Plan } from '../lib/plan.js';
import type { LatencyScenario, Measurement, Skipped } from '../lib/schema.js';
import { startTernNode, type TernNode } from '../lib/tern-node.js';
import { runWrk, wrkMissing, type WrkLoad } from '../lib/wrk.js';
import { ratio } from './context.js';
import { SIEVE_N } from './sieve.js';
import { BODY } from './warm-http.js';
import { join } from 'node:path';

export const SCALING_ID = 'core-scaling';
const START_TIMEOUT_MS = 30_000;

type Workload = 'hello' | 'sieve';

interface Target {
  name: string;
  role: 'tern' | 'reference';
  runtime: string | null;
  workload: Workload;
  /** Path on the server (with query). */
  path: string;
}

const REFERENCE_PATHS: Record<Workload, string> = { hello: '/hello', sieve: `/sieve?n=${SIEVE_N}` };

export const SCALED_FUNCTIONS: Array<{ runtime: string; example: string; workload: Workload }> = [
  { runtime: 'wasm', example: 'hello', workload: 'hello' },
  { runtime: 'wasm', example: 'sieve', workload: 'sieve' },
  { runtime: 'python', example: 'hello-python', workload: 'hello' },
  { runtime: 'node', example: 'hello-node', workload: 'hello' },
];

export function referenceName(processes: 'one' | 'n', workload: Workload, cores: number): string {
  return `node:http ${processes === 'one' ? '1 process' : `${cores} processes`}, ${workload} @${cores}`;
}

export function ternName(runtime: string, workload: Workload, cores: number): string {
  return `tern ${runtime} ${workload} @${cores}`;
}

/** Core counts to measure: 1, 2, 4 … up to half the machine (the other half runs wrk). */
export function coreLevels(cores: number, quick: boolean): number[] {
  const half = Math.max(1, Math.floor(cores / 2));
  const levels: number[] = [];
  for (let n = 1; n <= half; n *= 2) levels.push(n);
  if (levels.at(-1) !== half) levels.push(half);
  return quick ? levels.slice(0, 1) : levels;
}

function cpuList(from: number, count: number): string {
  return count === 1 ? String(from) : `${from}-${from + count - 1}`;
}

function startCluster(processes: number, cpus: string): Promise<ChildServer> {
  return startChildServer({
    label: `node:http ×${processes}`,
    command: 'taskset',
    args: ['-c', cpus, process.execPath, join(DIST_BENCH, 'reference/cluster-http.js'), String(processes)],
    ready: (child) => waitForListeningLine(child, START_TIMEOUT_MS),
  });
}

/** A node on `cpus` with every function that deploys here (one that cannot is skipped with why). */
async function startTern(
  n: number,
  cpus: string,
  skipped: Skipped[],
): Promise<{ node: TernNode; deployed: Set<string> }> {
  const node = await startTernNode({ args: ['--loops', String(n)], pin: cpus });
  const deployed = new Set<string>();
  for (const f of SCALED_FUNCTIONS) {
    try {
      await deployExample(node, f.example, f.example);
      deployed.add(f.example);
    } catch (e) {
      skipped.push({ target: ternName(f.runtime, f.workload, n), reason: reason(e) });
    }
  }
  return { node, deployed };
}

interface Measured {
  target: Target;
  cores: number;
  result: Awaited<ReturnType<typeof runWrk>>;
}

async function measure(base: string, t: Target, cores: number, load: Omit<WrkLoad, 'url' | 'method'>, warmupS: number) {
  const method = t.workload === 'hello' ? 'POST' : 'GET';
  const spec: WrkLoad = { ...load, url: `${base}${t.path}`, method, ...(method === 'POST' ? { body: BODY } : {}) };
  await runWrk({ ...spec, durationS: warmupS });
  const result = await runWrk(spec);
  log(`${SCALING_ID}: ${t.name}: ${Math.round(result.rps)} req/s, p99 ${result.p99Ms} ms, ${result.errors} errors`);
  return { target: t, cores, result };
}

/** One core count: both references and the Tern node, each started, measured and stopped in turn. */
async function measureLevel(n: number, machineCores: number, plan: Plan, skipped: Skipped[]): Promise<Measured[]> {
  const serverCpus = cpuList(0, n);
  const half = Math.max(1, Math.floor(machineCores / 2));
  const load = {
    connections: plan.scaling.connections,
    threads: Math.max(1, machineCores - half),
    durationS: plan.scaling.durationS,
    cpus: cpuList(half, Math.max(1, machineCores - half)),
  };
  const out: Measured[] = [];
  const servers: Array<{ processes: 'one' | 'n'; count: number }> = [{ processes: 'one', count: 1 }];
  if (n > 1) servers.push({ processes: 'n', count: n });
  for (const s of servers) {
    const server = await startCluster(s.count, serverCpus);
    try {
      for (const workload of ['hello', 'sieve'] as const) {
        const t: Target = {
          name: referenceName(s.processes, workload, n),
          role: 'reference',
          runtime: null,
          workload,
          path: REFERENCE_PATHS[workload],
        };
        out.push(await measure(server.url, t, n, load, plan.scaling.warmupS));
      }
    } finally {
      await server.stop();
    }
  }
  let started: { node: TernNode; deployed: Set<string> };
  try {
    started = await startTern(n, serverCpus, skipped);
  } catch (e) {
    skipped.push({ target: `tern @${n}`, reason: reason(e) });
    return out;
  }
  const { node, deployed } = started;
  try {
    for (const f of SCALED_FUNCTIONS.filter((x) => deployed.has(x.example))) {
      const t: Target = {
        name: ternName(f.runtime, f.workload, n),
        role: 'tern',
        runtime: f.runtime,
        workload: f.workload,
        path: `/fn/${f.example}${f.workload === 'sieve' ? `?n=${SIEVE_N}` : ''}`,
      };
      try {
        out.push(await measure(node.url, t, n, load, plan.scaling.warmupS));
      } catch (e) {
        skipped.push({ target: t.name, reason: reason(e) });
      }
    }
  } finally {
    await node.stop();
  }
  return out;
}

/** Each row against the references at its own core count (N processes; at N = 1 that is the 1-process server). */
function toRows(measured: Measured[]): Measurement[] {
  const rps = (name: string) => measured.find((m) => m.target.name === name)?.result.rps;
  return measured.map(({ target, cores, result }) => {
    const nProcs = referenceName(cores > 1 ? 'n' : 'one', target.workload, cores);
    const oneProc = referenceName('one', target.workload, cores);
    const refs = target.role === 'tern' ? [...new Set([nProcs, oneProc])] : cores > 1 ? [oneProc] : [];
    return {
      target: target.name,
      role: target.role,
      runtime: target.runtime,
      medianMs: result.medianMs,
      p99Ms: result.p99Ms,
      rps: result.rps,
      requests: result.requests,
      errors: result.errors,
      vs: refs.filter((r) => r !== target.name).map((r) => ({ reference: r, ratio: ratio(result.rps, rps(r)) })),
      extra: { cores, workload: target.workload === 'hello' ? 1 : 2 },
    };
  });
}

export async function coreScaling(plan: Plan): Promise<LatencyScenario> {
  const missing = await wrkMissing();
  const cores = availableParallelism();
  const skipped: Skipped[] = [];
  const measured: Measured[] = [];
  if (missing !== null) skipped.push({ target: 'scenario', reason: missing });
  else
    for (const n of coreLevels(cores, plan.quick)) {
      log(`${SCALING_ID}: server on ${n} core(s)`);
      measured.push(...(await measureLevel(n, cores, plan, skipped)));
    }
  const half = Math.max(1, Math.floor(cores / 2));
  return {
    id: SCALING_ID,
    title: 'Core scaling: warm calls with the server pinned to N cores',
    kind: 'latency',
    ratio: 'throughput',
    method: `wrk, ${Math.max(1, cores - half)} thread(s) pinned to cores ${cpuList(half, Math.max(1, cores - half))}, ${plan.scaling.connections} keep-alive connections, ${plan.scaling.warmupS} s warm-up then ${plan.scaling.durationS} s measured per target; server pinned to cores 0..N-1 with taskset; tern serve --loops N; hello: POST "${BODY}", sieve: GET n=${SIEVE_N}. References: bare node:http in 1 process and in N processes (node:cluster) on the same cores. Ratio: req/s ÷ the reference's at the same N (extra.workload: 1 hello, 2 sieve).`,
    skipped,
    rows: toRows(measured),
  };
}
