/**
 * Micro-VM figures: the accelerator in use, the cold start of the hello-vm example (start() until
 * the first response) and the median of warm calls on that VM. `node dist/bench/microvm.js` prints JSON.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { createInvocation } from '../src/core/invocation.js';
import { parseFunctionToml } from '../src/registry/spec.js';
import { createMicrovmRuntime } from '../src/runtimes/microvm/index.js';

const EXAMPLE = fileURLToPath(new URL('../../examples/hello-vm/', import.meta.url));
const WARM_CALLS = 200;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round = (v: number): number => Math.round(v * 100) / 100;

export async function benchMicrovm(): Promise<{ accel: string; coldStartMs: number; warmMedianMs: number }> {
  const build = spawnSync('bash', [join(EXAMPLE, 'build.sh')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`examples/hello-vm/build.sh failed: ${build.stderr || build.stdout}`);
  const root = await mkdtemp(join(tmpdir(), 'tern-bench-microvm-'));
  const runtime = createMicrovmRuntime(
    { dataDir: join(root, 'data'), scratchDir: join(root, 'scratch'), logger: pino({ level: 'silent' }) },
    { accel: 'auto', tap: false },
  );
  try {
    const probe = await runtime.probe();
    if (!probe.available) throw new Error(`microvm runtime unavailable: ${probe.detail}`);
    const spec = parseFunctionToml(readFileSync(join(EXAMPLE, 'function.toml'), 'utf8'));
    const fn = { spec, dir: EXAMPLE, version: 'bench', deployedAt: new Date().toISOString() };
    await runtime.prepare(fn);
    const signal = new AbortController().signal;
    const call = () => createInvocation({ function: spec.name, trigger: 'http', path: '/' });

    const coldStart = performance.now();
    const instance = await runtime.start(fn, { id: 'bench-1', log: () => {}, scratchRoot: join(root, 'scratch') });
    const first = await instance.call(call(), signal);
    const coldStartMs = performance.now() - coldStart;
    if (first.status !== 200) throw new Error(`first call answered ${first.status}`);

    const warm: number[] = [];
    for (let i = 0; i < WARM_CALLS; i++) {
      const t = performance.now();
      const r = await instance.call(call(), signal);
      warm.push(performance.now() - t);
      if (r.status !== 200) throw new Error(`warm call answered ${r.status}`);
    }
    await instance.stop();
    return {
      accel: probe.detail === 'kvm' ? 'kvm' : 'tcg',
      coldStartMs: round(coldStartMs),
      warmMedianMs: round(median(warm)),
    };
  } finally {
    await runtime.close();
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchMicrovm().then(
    (r) => console.log(JSON.stringify(r)),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exit(1);
    },
  );
}
