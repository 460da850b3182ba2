/**
 * The pool's own overhead on the warm path: a call through scheduler -> pool -> instance with an
 * instant in-process fake runtime, against calling the same fake instance directly.
 * Run: node dist/bench/pool-overhead.js [iterations]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { noTelemetry } from '../src/core/telemetry.js';
import { createInvocation, type Invocation } from '../src/core/invocation.js';
import type { Response } from '../src/core/result.js';
import type { DeployedFunction, Registry } from '../src/registry/registry.js';
import type { Instance, Runtime } from '../src/runtimes/runtime.js';
import { createScheduler } from '../src/scheduler/scheduler.js';

const RESPONSE: Response = { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('ok') };

class InstantInstance implements Instance {
  constructor(readonly id: string) {}
  async call(_inv: Invocation, _signal: AbortSignal): Promise<Response> {
    return RESPONSE;
  }
  async stop(): Promise<void> {}
  async kill(): Promise<void> {}
  onExit(): void {}
}

const instantRuntime: Runtime = {
  name: 'wasm',
  probe: async () => ({ available: true }),
  prepare: async () => {},
  release: () => {},
  start: async (_fn, o) => new InstantInstance(o.id),
  close: async () => {},
};

const noRegistry: Registry = {
  open: async () => {},
  list: () => [],
  get: () => undefined,
  deploy: async () => {
    throw new Error('unused');
  },
  deployFolder: async () => {
    throw new Error('unused');
  },
  remove: async () => undefined,
  prune: async () => {},
  subscribe: () => () => {},
  close: async () => {},
};

const fn: DeployedFunction = {
  spec: {
    name: 'bench',
    runtime: 'wasm',
    handler: 'main.wasm',
    memory: 16,
    timeoutMs: 10_000,
    concurrentRequests: 1,
    singleUse: false,
    keepaliveMs: 600_000,
    minInstances: 0,
    maxInstances: 1,
    env: {},
    network: false,
    files: false,
    private: false,
    idempotent: false,
    triggers: { coap: [], mqtt: [], schedule: [] },
  },
  dir: '/nonexistent',
  version: 'bench',
  deployedAt: new Date().toISOString(),
};

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function time(iterations: number, once: () => Promise<unknown>): Promise<number[]> {
  const samples = new Array<number>(iterations);
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    await once();
    samples[i] = (performance.now() - t0) * 1000;
  }
  return samples.sort((a, b) => a - b);
}

export async function benchPoolOverhead(
  iterations: number,
): Promise<{ medianUs: number; p99Us: number; baselineMedianUs: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'tern-bench-pool-'));
  const scheduler = await createScheduler({
    nodeName: 'bench',
    runtimes: () => instantRuntime,
    registry: noRegistry,
    memoryBudgetMiB: 1024,
    queue: { capacity: 100, waitMs: 30_000 },
    calls: { retentionMs: 60_000, max: 100, dir: join(dir, 'calls') },
    scratchDir: dir,
    telemetry: noTelemetry,
    logSink: () => {},
    logger: pino({ level: 'silent' }),
  });
  try {
    await scheduler.deployed(fn);
    const inv: Invocation = createInvocation({
      function: 'bench',
      trigger: 'http',
      method: 'POST',
      body: Buffer.from('x'),
    });
    const direct = new InstantInstance('direct');
    const signal = new AbortController().signal;
    const warmup = Math.min(iterations, 5_000);
    await time(warmup, () => direct.call(inv, signal));
    await time(warmup, () => scheduler.invoke(inv));
    const baseline = await time(iterations, () => direct.call(inv, signal));
    const pooled = await time(iterations, () => scheduler.invoke(inv));
    const round = (v: number) => Math.round(v * 100) / 100;
    return {
      medianUs: round(quantile(pooled, 0.5)),
      p99Us: round(quantile(pooled, 0.99)),
      baselineMedianUs: round(quantile(baseline, 0.5)),
    };
  } finally {
    await scheduler.close(1_000);
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const iterations = Number(process.argv[2] ?? 100_000);
  console.log(JSON.stringify(await benchPoolOverhead(iterations)));
}
