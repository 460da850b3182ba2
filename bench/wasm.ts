/**
 * The wasm runtime's per-call overheads, measured on this machine:
 *  - fresh: a full Instance.call (CGI env, worker round trip, a fresh WebAssembly.Instance of a
 *    ~150 kB module, its empty handler, output collected and parsed) — the single-use path;
 *  - freshInWorker: the part of that inside the worker (instantiate + run + collect);
 *  - tableHeavyInWorker: the same for a ~150 kB module whose 600 functions sit in a function-pointer
 *    table: V8 fills every table entry at instantiation, which costs more than the module's size;
 *  - warmRoundTrip: main thread -> worker -> main thread with no guest at all;
 *  - inline: instantiate + run on the main thread with a fresh memory each time (what an
 *    in-process runtime without workers would pay);
 *  - parallel: calls per second with several calls in flight on all workers;
 *  - *NoSpin: fresh and round trip with spinning off (sleep/wake through Atomics only);
 *  - sieve10k: the sieve example with N = 10000, end to end.
 * Everything else runs with the runtime's defaults. Run: `node dist/bench/wasm.js` (prints JSON). Needs clang for wasm32-wasi (the module is built here).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { createInvocation } from '../src/core/invocation.js';
import type { DeployedFunction } from '../src/registry/registry.js';
import { normaliseSpec } from '../src/registry/spec.js';
import { createWasmRuntime } from '../src/runtimes/wasm/index.js';
import { capModuleMemory } from '../src/runtimes/wasm/memory-cap.js';
import { compileFunction } from '../src/runtimes/wasm/prepare.js';
import { Wasi, WASI_MODULE, ProcExit } from '../src/runtimes/wasm/wasi.js';
import { wasm } from '../src/runtimes/wasm/wasm-api.js';
import { WorkerPool } from '../src/runtimes/wasm/worker-pool.js';

export interface WasmBenchResult {
  moduleBytes: number;
  calls: number;
  freshMedianUs: number;
  freshP99Us: number;
  freshInWorkerMedianUs: number;
  freshInWorkerP99Us: number;
  tableHeavyModuleBytes: number;
  tableHeavyInWorkerMedianUs: number;
  warmRoundTripMedianUs: number;
  warmRoundTripP99Us: number;
  inlineMedianUs: number;
  inlineP99Us: number;
  /** The same with spinning off (spinUs = workerSpinUs = 0): only Atomics.wait / waitAsync. */
  freshNoSpinMedianUs: number;
  warmRoundTripNoSpinMedianUs: number;
  parallelCallsPerSec: number;
  workers: number;
  sieve10kMedianUs: number;
}

const FUNCTIONS = 600;

/**
 * C source of a command module of about 150 kB whose handler does almost nothing. Its functions
 * are kept alive by a branch never taken (direct calls) or, with `table`, by a function-pointer table.
 */
function bigModuleSource(table: boolean): string {
  const lines = ['#include <stdio.h>', 'typedef int (*fn_t)(int);'];
  for (let i = 0; i < FUNCTIONS; i++) {
    lines.push(
      `__attribute__((noinline)) int f${i}(int x) { int a = x * ${i * 7 + 3} + ${i}; for (int k = 0; k < (x & 7); k++) a = (a << 3) ^ (a >> ${(i % 5) + 1}) ^ ${i * 31 + 17}; return a % ${i + 97} + (x > ${i} ? x - ${i} : ${i} - x); }`,
    );
  }
  const respond = 'fputs("Content-Type: text/plain\\n\\nok\\n", stdout);';
  if (table) {
    lines.push(`static fn_t table[] = {${Array.from({ length: FUNCTIONS }, (_, i) => `f${i}`).join(',')}};`);
    lines.push(
      `int main(int argc, char **argv) { if (argc > 1000) return table[argc % ${FUNCTIONS}](argc); ${respond} return 0; }`,
    );
  } else {
    const calls = Array.from({ length: FUNCTIONS }, (_, i) => `r += f${i}(v);`).join(' ');
    lines.push(
      `int main(int argc, char **argv) { volatile int v = argc; int r = 0; if (v > 1000) { ${calls} } ${respond} return r & 0; }`,
    );
  }
  return lines.join('\n');
}

async function buildModule(dir: string, name: string, table: boolean): Promise<Buffer> {
  await writeFile(join(dir, `${name}.c`), bigModuleSource(table));
  execFileSync(
    'clang',
    ['--target=wasm32-wasi', '-O2', '-Wl,--strip-all', '-o', join(dir, `${name}.wasm`), join(dir, `${name}.c`)],
    { stdio: 'pipe' },
  );
  return readFileSync(join(dir, `${name}.wasm`));
}

function stats(samples: number[]): { median: number; p99: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { median: Math.round(at(0.5) * 10) / 10, p99: Math.round(at(0.99) * 10) / 10 };
}

async function timeLoop(n: number, warmup: number, fn: () => Promise<unknown> | unknown): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    out.push((performance.now() - t) * 1000);
  }
  return out;
}

function fn(dir: string, handler: string, name: string): DeployedFunction {
  return {
    spec: normaliseSpec({ name, runtime: 'wasm', handler }),
    dir,
    version: `bench-${name}`,
    deployedAt: new Date().toISOString(),
  };
}

async function freshCalls(dir: string, calls: number, spin: boolean): Promise<{ fresh: number[]; sieve: number[] }> {
  const runtime = createWasmRuntime(
    { dataDir: dir, scratchDir: dir, logger: pino({ level: 'silent' }) },
    spin ? {} : { spinUs: 0, workerSpinUs: 0 },
  );
  try {
    const big = fn(dir, 'big.wasm', 'big');
    await runtime.prepare(big);
    const instance = await runtime.start(big, { id: 'bench', log: () => {}, scratchRoot: dir });
    const inv = createInvocation({
      function: 'big',
      trigger: 'http',
      headers: { 'user-agent': 'bench', accept: '*/*' },
    });
    const signal = new AbortController().signal;
    const fresh = await timeLoop(calls, 500, () => instance.call(inv, signal));
    let sieve: number[] = [];
    const sieveDir = new URL('../../examples/sieve/', import.meta.url).pathname;
    try {
      const sieveFn = fn(sieveDir, 'sieve.wasm', 'sieve');
      await runtime.prepare(sieveFn);
      const s = await runtime.start(sieveFn, { id: 'bench-sieve', log: () => {}, scratchRoot: dir });
      const sinv = createInvocation({ function: 'sieve', trigger: 'http', query: 'n=10000' });
      sieve = await timeLoop(Math.min(calls, 2000), 100, () => s.call(sinv, signal));
    } catch {
      // examples/sieve not built: that figure is left out
    }
    return { fresh, sieve };
  } finally {
    await runtime.close();
  }
}

async function parallel(dir: string, workers: number, ms: number): Promise<number> {
  const runtime = createWasmRuntime({ dataDir: dir, scratchDir: dir, logger: pino({ level: 'silent' }) }, { workers });
  try {
    const big = fn(dir, 'big.wasm', 'big');
    await runtime.prepare(big);
    const instance = await runtime.start(big, { id: 'bench', log: () => {}, scratchRoot: dir });
    const inv = createInvocation({ function: 'big', trigger: 'http' });
    const signal = new AbortController().signal;
    await Promise.all(Array.from({ length: workers * 4 }, () => instance.call(inv, signal)));
    let done = 0;
    const until = performance.now() + ms;
    await Promise.all(
      Array.from({ length: workers * 4 }, async () => {
        while (performance.now() < until) {
          await instance.call(inv, signal);
          done++;
        }
      }),
    );
    return Math.round((done / ms) * 1000);
  } finally {
    await runtime.close();
  }
}

async function pingLoop(calls: number, spin: boolean): Promise<number[]> {
  const pool = new WorkerPool({
    size: 1,
    spinUs: spin ? 20 : 0,
    workerSpinUs: spin ? 20 : 0,
    maxQueue: 10,
    limits: { stdout: 1 << 20, stderr: 1 << 20 },
    logger: pino({ level: 'silent' }),
  });
  try {
    const signal = new AbortController().signal;
    return await timeLoop(calls, 1000, () => pool.ping(signal));
  } finally {
    await pool.close();
  }
}

async function inWorkerLoop(dir: string, handler: string, calls: number): Promise<number[]> {
  const compiled = await compileFunction(normaliseSpec({ name: 'big', runtime: 'wasm', handler }), dir);
  const pool = new WorkerPool({
    size: 1,
    spinUs: 20,
    workerSpinUs: 20,
    maxQueue: 10,
    limits: { stdout: 1 << 20, stderr: 1 << 20 },
    logger: pino({ level: 'silent' }),
  });
  try {
    const program = { id: 1, message: compiled.message, recentRunUs: 0 };
    const signal = new AbortController().signal;
    const input = { env: Buffer.from('REQUEST_METHOD=GET\0'), envCount: 1, body: Buffer.alloc(0), root: '' };
    const runs: number[] = [];
    await timeLoop(calls, 500, async () => {
      const o = await pool.run(program, input, signal);
      if ('runUs' in o) runs.push(o.runUs);
    });
    return runs.slice(500);
  } finally {
    await pool.close();
  }
}

/** Instantiate and run on this thread, a fresh memory each time: no worker, no reuse. */
async function inlineLoop(bytes: Uint8Array, calls: number): Promise<number[]> {
  const capped = capModuleMemory(bytes, 128);
  const module = await wasm.compile(capped.bytes);
  const wasi = new Wasi({ stdout: 1 << 20, stderr: 1 << 20 });
  const names = wasm.Module.imports(module)
    .filter((i) => i.module === WASI_MODULE)
    .map((i) => i.name);
  const functions = wasi.importsFor(names);
  const mem = capped.memoryImport!;
  const env = Buffer.from('REQUEST_METHOD=GET\0');
  const args = Buffer.from('big.wasm\0');
  return timeLoop(calls, 500, () => {
    wasi.begin({ stdin: new Uint8Array(0), env, envCount: 1, args, argCount: 1, files: null });
    const memory = new wasm.Memory({ initial: mem.limits.initial, maximum: capped.capPages });
    wasi.bindMemory(memory);
    const instance = new wasm.Instance(module, { [WASI_MODULE]: functions, [mem.module]: { [mem.name]: memory } });
    try {
      (instance.exports._start as () => void)();
    } catch (e) {
      if (!(e instanceof ProcExit)) throw e;
    }
    Buffer.from(wasi.stdout.bytes());
    wasi.end();
  });
}

export async function benchWasm(options: { calls?: number; workers?: number } = {}): Promise<WasmBenchResult> {
  const calls = options.calls ?? 5000;
  const workers = options.workers ?? 2;
  const dir = await mkdtemp(join(tmpdir(), 'tern-bench-wasm-'));
  try {
    const bytes = await buildModule(dir, 'big', false);
    const tableBytes = await buildModule(dir, 'table', true);

    const inline = stats(await inlineLoop(bytes, calls));
    const ping = stats(await pingLoop(calls * 2, true));
    const pingNoSpin = stats(await pingLoop(calls, false));
    const inWorker = stats(await inWorkerLoop(dir, 'big.wasm', calls));
    const tableInWorker = stats(await inWorkerLoop(dir, 'table.wasm', calls));
    const plain = await freshCalls(dir, calls, true);
    const fresh = stats(plain.fresh);
    const freshNoSpin = stats((await freshCalls(dir, calls, false)).fresh);
    const callsPerSec = await parallel(dir, workers, 2000);
    return {
      moduleBytes: bytes.length,
      calls,
      freshMedianUs: fresh.median,
      freshP99Us: fresh.p99,
      freshInWorkerMedianUs: inWorker.median,
      freshInWorkerP99Us: inWorker.p99,
      tableHeavyModuleBytes: tableBytes.length,
      tableHeavyInWorkerMedianUs: tableInWorker.median,
      warmRoundTripMedianUs: ping.median,
      warmRoundTripP99Us: ping.p99,
      inlineMedianUs: inline.median,
      inlineP99Us: inline.p99,
      freshNoSpinMedianUs: freshNoSpin.median,
      warmRoundTripNoSpinMedianUs: pingNoSpin.median,
      parallelCallsPerSec: callsPerSec,
      workers,
      sieve10kMedianUs: plain.sieve.length ? stats(plain.sieve).median : NaN,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchWasm();
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
