/**
 * What one offload hop adds on loopback. One etcd and two nodes: B runs a small python function;
 * A's memory budget is too small for it, so A forwards every call to B (policy "edge"). The same
 * warm call is timed straight on B and through A, interleaved, each as one sequential caller;
 * `addedMs` is the difference of the medians (A's refusal, the forward, B's answer coming back).
 *
 *   node dist/bench/offload.js [samples]     prints the result as JSON
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packFolder } from '../src/registry/archive.js';
import { startTern, type TernProcess } from '../test/helpers/node.js';
import { startEtcd, type EtcdServer } from '../test/cluster/etcd.js';

export interface OffloadBench {
  localMedianMs: number;
  offloadedMedianMs: number;
  addedMs: number;
  /** Calls timed on each path. */
  samples: number;
}

const SECRET = 'bench-cluster-secret-0123456789';
const WARMUP = 30;
const CALL_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 60_000;
const FUNCTION_TOML =
  'name = "bench-echo"\nruntime = "python"\nhandler = "main:handle"\nmemory = 32\nmax-instances = 2\noffload = "edge"\n';
const MAIN_PY = 'def handle(req):\n    return req.body\n';

function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
}

const round = (v: number) => Math.round(v * 1000) / 1000;

/** Poll (100 ms apart, bounded) until `probe` says yes. */
async function until(probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`benchOffload: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function timedCall(node: TernProcess, expectOffloaded: boolean): Promise<number> {
  const started = performance.now();
  const res = await fetch(`${node.url}/fn/bench-echo`, {
    method: 'POST',
    body: 'ping',
    signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
  });
  const body = await res.text();
  const elapsed = performance.now() - started;
  if (res.status !== 200 || body !== 'ping') throw new Error(`benchOffload: call answered ${res.status}: ${body}`);
  const report = JSON.parse(res.headers.get('x-tern-report') ?? '{}') as { offloaded?: boolean };
  if (report.offloaded !== expectOffloaded)
    throw new Error(`benchOffload: expected offloaded=${expectOffloaded}, report says ${JSON.stringify(report)}`);
  return elapsed;
}

export async function benchOffload(samples = 300): Promise<OffloadBench> {
  const count = Math.max(10, Math.min(10_000, Math.floor(samples)));
  let etcd: EtcdServer | undefined;
  const nodes: TernProcess[] = [];
  const fnDir = await mkdtemp(join(tmpdir(), 'tern-bench-offload-'));
  try {
    etcd = await startEtcd();
    const common = [
      '--etcd',
      etcd.url,
      '--role',
      'edge',
      '--area',
      'bench',
      '--grpc-port',
      '-1',
      '--log-level',
      'warn',
    ];
    const env = { TERN_CLUSTER_SECRET: SECRET };
    const [a, b] = await Promise.all([
      startTern({ args: ['--node', 'bench-a', '--memory-budget', '16', ...common], env, timeoutMs: READY_TIMEOUT_MS }),
      startTern({ args: ['--node', 'bench-b', '--memory-budget', '512', ...common], env, timeoutMs: READY_TIMEOUT_MS }),
    ]);
    nodes.push(a!, b!);

    await writeFile(join(fnDir, 'function.toml'), FUNCTION_TOML);
    await writeFile(join(fnDir, 'main.py'), MAIN_PY);
    const deployed = await b!.api('PUT', '/v1/functions/bench-echo', {
      body: await packFolder(fnDir),
      headers: { 'content-type': 'application/gzip' },
    });
    if (deployed.status !== 201)
      throw new Error(`benchOffload: deploy answered ${deployed.status}: ${await deployed.text()}`);
    await until(async () => (await a!.api('GET', '/v1/functions/bench-echo')).status === 200, 'the function on A');
    await until(async () => {
      const list = ((await (await a!.api('GET', '/v1/nodes')).json()) as { nodes: { name: string }[] }).nodes;
      return list.some((n) => n.name === 'bench-b');
    }, 'A to see B');
    // A may still be preparing the function when it lists it: its first calls may 404 briefly.
    await until(
      async () => (await fetch(`${a!.url}/fn/bench-echo`, { method: 'POST', body: 'ping' })).status === 200,
      'A to serve the function',
    );

    for (let i = 0; i < WARMUP; i++) {
      await timedCall(b!, false);
      await timedCall(a!, true);
    }
    const local: number[] = [];
    const offloaded: number[] = [];
    for (let i = 0; i < count; i++) {
      local.push(await timedCall(b!, false));
      offloaded.push(await timedCall(a!, true));
    }
    const localMedianMs = median(local);
    const offloadedMedianMs = median(offloaded);
    return {
      localMedianMs: round(localMedianMs),
      offloadedMedianMs: round(offloadedMedianMs),
      addedMs: round(offloadedMedianMs - localMedianMs),
      samples: count,
    };
  } finally {
    await Promise.allSettled(nodes.map((n) => n.stop({ cleanup: true })));
    await etcd?.stop();
    await rm(fnDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(JSON.stringify(await benchOffload(Number(process.argv[2] ?? 300))));
}
