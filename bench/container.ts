/**
 * Container cold starts, OCI runtime by runtime (crun, runc, runsc where installed): a busybox
 * httpd image built here, started COLD_STARTS times per runtime that works (start() until the first
 * response, as the node's report counts initMs + runMs), then warm calls on one container. A runtime
 * whose probe fails is reported with its reason. `node dist/bench/container.js` prints JSON.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { createInvocation } from '../src/core/invocation.js';
import { parseFunctionToml } from '../src/registry/spec.js';
import { createContainerRuntime } from '../src/runtimes/container/index.js';
import type { ContainerRuntime } from '../src/runtimes/container/runtime.js';
import { busyboxLayer, httpdConfig, writeOciLayout } from '../test/helpers/oci-image.js';

const COLD_STARTS = 15;
const WARM_CALLS = 100;

export interface ContainerBenchOptions {
  coldStarts?: number;
  warmCalls?: number;
}

export interface RuntimeFigures {
  works: boolean;
  detail: string;
  coldStartMedianMs?: number;
  coldStartP90Ms?: number;
  warmMedianMs?: number;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const round = (v: number): number => Math.round(v * 10) / 10;

async function measure(
  runtime: ContainerRuntime,
  dir: string,
  oci: string,
  scratch: string,
  o: Required<ContainerBenchOptions>,
): Promise<RuntimeFigures> {
  const toml = `name = "bench-${oci}"\nruntime = "container"\nimage = "image"\nmemory = 64\n[container]\nruntime = "${oci}"\n`;
  const fn = { spec: parseFunctionToml(toml), dir, version: oci, deployedAt: new Date().toISOString() };
  await runtime.prepare(fn);
  const signal = new AbortController().signal;
  const call = () => createInvocation({ function: fn.spec.name, trigger: 'http', path: '/index.html' });
  const cold: number[] = [];
  for (let i = 0; i < o.coldStarts; i++) {
    const t = performance.now();
    const instance = await runtime.start(fn, { id: `${oci}-${i}`, log: () => {}, scratchRoot: scratch });
    const first = await instance.call(call(), signal);
    cold.push(performance.now() - t);
    if (first.status !== 200) throw new Error(`${oci}: the first call answered ${first.status}`);
    if (i < o.coldStarts - 1) await instance.kill();
    else {
      const warm: number[] = [];
      for (let j = 0; j < o.warmCalls; j++) {
        const w = performance.now();
        await instance.call(call(), signal);
        warm.push(performance.now() - w);
      }
      await instance.kill();
      return {
        works: true,
        detail: 'works',
        coldStartMedianMs: round(quantile(cold, 0.5)),
        coldStartP90Ms: round(quantile(cold, 0.9)),
        warmMedianMs: round(quantile(warm, 0.5)),
      };
    }
  }
  throw new Error('unreachable');
}

/** Figures keyed by OCI runtime name ("crun", "runc", "runsc"). */
export async function benchContainers(options: ContainerBenchOptions = {}): Promise<Record<string, RuntimeFigures>> {
  const o = { coldStarts: options.coldStarts ?? COLD_STARTS, warmCalls: options.warmCalls ?? WARM_CALLS };
  const root = await mkdtemp(join(tmpdir(), 'tern-bench-container-'));
  // The containers' mapped root must pass through this folder to reach the store in it.
  await chmod(root, 0o711);
  const runtime = createContainerRuntime({
    dataDir: join(root, 'data'),
    scratchDir: join(root, 'scratch'),
    logger: pino({ level: 'silent' }),
  });
  try {
    const fnDir = join(root, 'fn');
    await writeOciLayout(join(fnDir, 'image'), { layers: [busyboxLayer()], config: httpdConfig() });
    const decision = await runtime.decide();
    if (decision.blocker) throw new Error(decision.blocker);
    const out: Record<string, RuntimeFigures> = {};
    for (const v of decision.verdicts)
      out[v.name] = v.works
        ? await measure(runtime, fnDir, v.name, join(root, 'scratch'), o)
        : { works: false, detail: v.detail };
    return out;
  } finally {
    await runtime.close();
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchContainers().then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
