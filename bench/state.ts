/**
 * State and chaining, measured from inside a wasm function (a C guest using tern.h, built here):
 *  - localGetUs: tern_get of a 64-byte value already seen by the worker (read in place from shared memory);
 *  - localSetUs: tern_set of 64 bytes (one round trip to the node's main thread);
 *  - globalGetUs: tern_pull of 64 bytes (Redis GET into the local tier), globalSetUs: tern_push (Redis SET);
 *  - chainedCallOverheadMs: one chained call of `square` as its parent sees it (tern_call, from the
 *    report's children): scheduling, a fresh instance, the round trips and result copy; square's
 *    own work (a few µs of wasm) is inside it;
 *  - fanout20SyncMs / fanout20AsyncMs: the whole fan-out example with n=20, one call after another
 *    or all started before any is awaited.
 * Each state figure is the median over batches of the mean per operation in a batch. Starts its own
 * redis-server and node on free loopback ports and stops them. Run: `node dist/bench/state.js`.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packFolder } from '../src/registry/archive.js';
import { cleanupAll, onCleanup } from './lib/cleanup.js';
import { deployExample } from './lib/deploy.js';
import { freeLoopbackPort } from './lib/free-port.js';
import { EXAMPLES } from './lib/paths.js';
import { quantile, round } from './lib/stats.js';
import { startTernNode, type TernNode } from './lib/tern-node.js';

export interface StateBenchResult {
  localGetUs: number;
  localSetUs: number;
  globalGetUs: number;
  globalSetUs: number;
  chainedCallOverheadMs: number;
  fanout20SyncMs: number;
  fanout20AsyncMs: number;
  batches: number;
  opsPerBatch: number;
}

const BENCH_C = String.raw`
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "tern.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static long arg(const char *name, long fallback) {
  const char *q = getenv("QUERY_STRING");
  size_t len = strlen(name);
  for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL)
    if (strncmp(p, name, len) == 0 && p[len] == '=') return strtol(p + len + 1, NULL, 10);
  return fallback;
}

int main(void) {
  const char *q = getenv("QUERY_STRING");
  const char *op = strstr(q, "op=") ? strstr(q, "op=") + 3 : "get";
  long batches = arg("batches", 20), per = arg("per", 200);
  char value[64], out[64];
  memset(value, 'v', sizeof value);
  if (tern_set("bench/v", value, sizeof value) < 0 || tern_push("bench/v") < 0 || tern_get("bench/v", out, sizeof out) < 0) {
    printf("Status: 500\n\n%s", tern_strerror());
    return 0;
  }
  printf("Content-Type: application/json\n\n{\"batchUs\":[");
  for (long b = 0; b < batches; b++) {
    double start = now_us();
    for (long i = 0; i < per; i++) {
      int32_t r;
      if (strncmp(op, "get", 3) == 0) r = tern_get("bench/v", out, sizeof out);
      else if (strncmp(op, "set", 3) == 0) r = tern_set("bench/v", value, sizeof value);
      else if (strncmp(op, "push", 4) == 0) r = tern_push("bench/v");
      else r = tern_pull("bench/v");
      if (r < 0) return 1;
    }
    printf("%s%.4f", b ? "," : "", (now_us() - start) / per);
  }
  printf("]}");
  return 0;
}
`;

async function startRedis(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tern-bench-redis-'));
  const port = await freeLoopbackPort();
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  onCleanup(`redis-server ${proc.pid ?? '?'}`, async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 20_000);
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => reject(new Error(`redis-server exited:\n${out}`)));
  });
  return `redis://127.0.0.1:${port}`;
}

async function buildBenchFunction(root: string): Promise<string> {
  const dir = join(root, 'statebench');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'main.c'), BENCH_C);
  await writeFile(
    join(dir, 'function.toml'),
    'name = "statebench"\nruntime = "wasm"\nhandler = "main.wasm"\nmemory = 16\ntimeout = "60s"\n',
  );
  execFileSync(
    'clang',
    ['--target=wasm32-wasi', '-O2', '-I', join(EXAMPLES, 'include'), '-o', join(dir, 'main.wasm'), join(dir, 'main.c')],
    { stdio: 'pipe', timeout: 120_000 },
  );
  return dir;
}

async function call(
  node: TernNode,
  path: string,
): Promise<{ status: number; body: string; report: { runMs: number; children?: { ms: number }[] } }> {
  const res = await fetch(`${node.url}/fn/${path}`, { signal: AbortSignal.timeout(60_000) });
  const body = await res.text();
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${body}`);
  return {
    status: res.status,
    body,
    report: JSON.parse(res.headers.get('x-tern-report') ?? '{}') as { runMs: number; children?: { ms: number }[] },
  };
}

function median(values: number[]): number {
  return quantile(Float64Array.from(values).sort(), 0.5);
}

async function opUs(node: TernNode, op: string, batches: number, per: number): Promise<number> {
  // Warm up: JIT on both threads, the worker's segment cache, the spin governors.
  for (let i = 0; i < 5; i++) await call(node, `statebench?op=${op}&batches=5&per=${per}`);
  const { body } = await call(node, `statebench?op=${op}&batches=${batches}&per=${per}`);
  return round(median((JSON.parse(body) as { batchUs: number[] }).batchUs), 3);
}

export async function benchState(
  o: { batches?: number; perBatch?: number; chainRuns?: number } = {},
): Promise<StateBenchResult> {
  const batches = o.batches ?? 20;
  const per = o.perBatch ?? 200;
  const chainRuns = o.chainRuns ?? 30;
  const root = await mkdtemp(join(tmpdir(), 'tern-bench-state-'));
  onCleanup(`folder ${root}`, () => rm(root, { recursive: true, force: true }));
  const redis = await startRedis();
  await writeFile(join(root, 'tern.toml'), `redis = "${redis}"\n`);
  const node = await startTernNode({ args: ['--config', join(root, 'tern.toml')] });
  try {
    const fn = await buildBenchFunction(root);
    const res = await node.api('PUT', '/v1/functions/statebench', await packFolder(fn), 'application/gzip');
    if (res.status !== 201) throw new Error(`deploy statebench: ${res.status} ${await res.text()}`);
    execFileSync('bash', [join(EXAMPLES, 'square/build.sh')], { stdio: 'pipe', timeout: 120_000 });
    execFileSync('bash', [join(EXAMPLES, 'fanout/build.sh')], { stdio: 'pipe', timeout: 120_000 });
    await deployExample(node, 'square', 'square');
    await deployExample(node, 'fanout', 'fanout');

    const localGetUs = await opUs(node, 'get', batches, per);
    const localSetUs = await opUs(node, 'set', batches, per);
    const globalGetUs = await opUs(node, 'pull', batches, Math.max(1, Math.floor(per / 4)));
    const globalSetUs = await opUs(node, 'push', batches, Math.max(1, Math.floor(per / 4)));

    // Warm the chain path (JIT, workers), then measure it and square alone.
    for (let i = 0; i < 10; i++) await call(node, 'fanout?n=20&sync=1');
    const chained: number[] = [];
    const syncRuns: number[] = [];
    for (let i = 0; i < chainRuns; i++) {
      const { report } = await call(node, 'fanout?n=20&sync=1');
      syncRuns.push(report.runMs);
      for (const c of report.children ?? []) chained.push(c.ms);
    }
    for (let i = 0; i < 10; i++) await call(node, 'fanout?n=20');
    const asyncRuns: number[] = [];
    for (let i = 0; i < chainRuns; i++) asyncRuns.push((await call(node, 'fanout?n=20')).report.runMs);
    return {
      localGetUs,
      localSetUs,
      globalGetUs,
      globalSetUs,
      chainedCallOverheadMs: round(median(chained), 4),
      fanout20SyncMs: round(median(syncRuns), 3),
      fanout20AsyncMs: round(median(asyncRuns), 3),
      batches,
      opsPerBatch: per,
    };
  } finally {
    await node.stop();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    process.stdout.write(`${JSON.stringify(await benchState(), null, 2)}\n`);
  } finally {
    await cleanupAll();
  }
}
