/**
 * The process runtimes (python, node, binary) on this machine:
 *  - coldSandboxed: runtime.start() of a fresh bubblewrap sandbox (setpriv, namespaces, mounts,
 *    seccomp, interpreter, shim, handler import) plus the first call, from the call to the response,
 *    with the runtime's default of 2 ready launchers (an empty cgroup with a shell waiting for the
 *    uid to run as: no bwrap, no function code, no namespaces);
 *  - coldSandboxedNoReadyLaunchers: the same with that pool off (the cgroup is made and joined
 *    during the start: the kernel's RCU grace period for the move is on the critical path);
 *  - coldPlain: the same interpreter running the same shim and handler as a plain child process
 *    (no sandbox, no cgroup, the same cleared environment), spawn to first response;
 *  - sandboxOverheadRatio: coldSandboxed / coldPlain (medians);
 *  - emptySandbox: cgroup + setpriv + bwrap + tern-init + /usr/bin/true, to exit: the sandbox's floor;
 *  - warmCall: one call round trip on a started instance (node -> fd 3 -> shim -> handler -> back);
 *  - pythonNetworkCold: coldSandboxed of hello-python with network = true (slirp4netns and the
 *    sandbox's nftables rules are attached before the function starts);
 *  - pythonZygote: a fresh python instance forked from the function's zygote (zygote.ts), start
 *    plus first call, interleaved with the same through a new sandbox (zygotes off) and a bare
 *    `python3 -c pass` spawn; ratios against the bare spawn. The python figures above are with
 *    zygotes off (a sandbox per instance).
 * Run: `node dist/bench/process.js [coldRuns] [warmCalls]` (prints JSON). Needs root, bwrap, cgroups.
 */
import { spawn } from 'node:child_process';
import type { Duplex } from 'node:stream';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { createInvocation } from '../src/core/invocation.js';
import type { DeployedFunction } from '../src/registry/registry.js';
import { parseFunctionToml } from '../src/registry/spec.js';
import { createBinaryRuntime, createNodeRuntime, createPythonRuntime } from '../src/runtimes/process/index.js';
import { leaseKit } from '../src/runtimes/process/kit.js';
import { binary, node, python, type Language } from '../src/runtimes/process/languages.js';
import { runOnce } from '../src/runtimes/process/oneshot.js';
import { encodeFrame, FrameDecoder } from '../src/runtimes/process/protocol.js';
import type { Runtime, RuntimeContext } from '../src/runtimes/runtime.js';
import { REPO } from './lib/paths.js';
import { PYTHON } from '../src/runtimes/process/deps.js';
import { summarise, type LatencySummary } from './lib/stats.js';

export interface LanguageBench {
  example: string;
  coldSandboxed: LatencySummary;
  coldSandboxedNoReadyLaunchers: LatencySummary;
  coldPlain: LatencySummary;
  sandboxOverheadRatio: number;
  warmCall: LatencySummary;
}

export interface ZygoteBench {
  /** runtime.start() + first call, the instance forked from a ready zygote. */
  forked: LatencySummary;
  /** The same with zygotes off: a new sandbox and interpreter. */
  sandboxed: LatencySummary;
  /** spawn of `python3 -c pass` to exit, no sandbox. */
  bareSpawn: LatencySummary;
  forkedVsBareSpawn: number;
  sandboxedVsBareSpawn: number;
}

export interface ProcessBenchResult {
  coldRuns: number;
  warmCalls: number;
  emptySandbox: LatencySummary;
  /** hello-python with network = true: the user-mode network and firewall on the start path. */
  pythonNetworkCold: LatencySummary;
  pythonZygote: ZygoteBench;
  python: LanguageBench;
  node: LanguageBench;
  binary: LanguageBench;
}

const CLEAN_ENV: Record<string, string> = {
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/tmp',
  TMPDIR: '/tmp',
  LANG: 'C.UTF-8',
};

async function copyExample(root: string, name: string): Promise<DeployedFunction> {
  const dir = join(root, name);
  await cp(join(REPO, 'examples', name), dir, { recursive: true });
  const spec = parseFunctionToml(await readFile(join(dir, 'function.toml'), 'utf8'));
  return { spec, dir, version: 'bench', deployedAt: new Date().toISOString() };
}

/** The shim as a plain child: spawn, wait for "ready", one call, its result. */
async function plainColdStart(language: Language, fn: DeployedFunction, nodePath: string): Promise<number> {
  const argv = language.command(fn.spec, 'bench-plain', { fn: fn.dir, shims: join(REPO, 'shims'), node: nodePath });
  const started = performance.now();
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: CLEAN_ENV,
    cwd: fn.dir,
  });
  const channel = child.stdio[3] as Duplex;
  const decoder = new FrameDecoder();
  try {
    await new Promise<void>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`plain ${language.name} shim exited with ${code}`)));
      channel.on('data', (chunk: Buffer) => {
        for (const { header } of decoder.push(chunk)) {
          if (header.t === 'ready') {
            const call = { t: 'call', id: 'c1', call: 'bench', method: 'GET', path: '/', query: '', headers: {} };
            const env = language.cgi
              ? { env: { REQUEST_METHOD: 'GET', PATH_INFO: '/', QUERY_STRING: '', CONTENT_LENGTH: '0' } }
              : {};
            for (const part of encodeFrame({ ...call, ...env })) channel.write(part);
          } else if (header.t === 'result' || header.t === 'cgi') resolve();
          else if (header.t === 'error' || header.t === 'init-error') reject(new Error(String(header.message)));
        }
      });
    });
    return performance.now() - started;
  } finally {
    child.kill('SIGKILL');
  }
}

async function coldStarts(
  rt: Runtime,
  fn: DeployedFunction,
  label: string,
  runs: number,
  between: () => Promise<void>,
): Promise<number[]> {
  const never = new AbortController().signal;
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const inst = await rt.start(fn, {
      id: `${fn.spec.name}-${label}-${i}`,
      log: () => undefined,
      scratchRoot: tmpdir(),
    });
    await inst.call(createInvocation({ function: fn.spec.name, trigger: 'http' }), never);
    samples.push(performance.now() - t0);
    await inst.stop();
    await between();
  }
  return samples;
}

async function benchLanguage(
  rt: Runtime,
  unpooled: Runtime,
  language: Language,
  fn: DeployedFunction,
  nodePath: string,
  coldRuns: number,
  warmCalls: number,
): Promise<LanguageBench> {
  await rt.prepare(fn);
  const never = new AbortController().signal;
  // One untimed round each way warms the page cache for all three.
  await coldStarts(rt, fn, 'warmup', 1, async () => undefined);
  await coldStarts(unpooled, fn, 'warmup-unpooled', 1, async () => undefined);
  await plainColdStart(language, fn, nodePath);

  const plain: number[] = [];
  const sandboxed = await coldStarts(rt, fn, 'cold', coldRuns, async () => {
    plain.push(await plainColdStart(language, fn, nodePath));
  });
  const unpooledSamples = await coldStarts(unpooled, fn, 'cold-unpooled', coldRuns, async () => undefined);

  const inst = await rt.start(fn, { id: `${fn.spec.name}-warm`, log: () => undefined, scratchRoot: tmpdir() });
  const warm: number[] = [];
  try {
    for (let i = 0; i < warmCalls; i++) {
      const inv = createInvocation({ function: fn.spec.name, trigger: 'http' });
      const t0 = performance.now();
      await inst.call(inv, never);
      warm.push(performance.now() - t0);
    }
  } finally {
    await inst.stop();
  }
  const coldSandboxed = summarise(sandboxed);
  const coldPlain = summarise(plain);
  return {
    example: fn.spec.name,
    coldSandboxed,
    coldSandboxedNoReadyLaunchers: summarise(unpooledSamples),
    coldPlain,
    sandboxOverheadRatio: Math.round((coldSandboxed.medianMs / coldPlain.medianMs) * 100) / 100,
    warmCall: summarise(warm),
  };
}

function bareSpawn(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(PYTHON, ['-c', 'pass'], { stdio: 'ignore', env: CLEAN_ENV });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', () => resolve(performance.now() - t0));
  });
}

/** Forked, sandboxed and bare spawn in turn, so that a busy machine weighs on all three alike. */
async function benchZygote(forking: Runtime, plain: Runtime, fn: DeployedFunction, runs: number): Promise<ZygoteBench> {
  await forking.prepare(fn);
  await coldStarts(forking, fn, 'zygote-warmup', 3, async () => undefined);
  await coldStarts(plain, fn, 'plain-warmup', 1, async () => undefined);
  await bareSpawn();
  const forked: number[] = [];
  const sandboxed: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < runs; i++) {
    forked.push(...(await coldStarts(forking, fn, `zygote-${i}`, 1, async () => undefined)));
    sandboxed.push(...(await coldStarts(plain, fn, `plain-${i}`, 1, async () => undefined)));
    bare.push(await bareSpawn());
  }
  const [f, p, b] = [summarise(forked), summarise(sandboxed), summarise(bare)];
  const ratio = (a: LatencySummary) => Math.round((a.medianMs / b.medianMs) * 100) / 100;
  return { forked: f, sandboxed: p, bareSpawn: b, forkedVsBareSpawn: ratio(f), sandboxedVsBareSpawn: ratio(p) };
}

async function emptySandbox(ctx: RuntimeContext, runs: number): Promise<LatencySummary> {
  const lease = leaseKit(ctx.scratchDir);
  const kit = await lease.kit();
  const samples: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await runOnce(
        kit,
        {
          fnDir: kit.emptyDir,
          shimsDir: kit.shimsDir,
          etcDir: kit.etc.offline.dir,
          network: false,
          tmpBytes: 1 << 20,
          hostname: 'bench',
          env: CLEAN_ENV,
          command: ['/usr/bin/true'],
          readOnly: kit.etc.offline.binds,
        },
        { memoryMiB: 64, pidsMax: 16, timeoutMs: 10_000 },
        kit.uids.identityOf('bench'),
      );
      samples.push(performance.now() - t0);
    }
  } finally {
    await lease.release();
  }
  return summarise(samples);
}

export async function benchProcess(coldRuns = 30, warmCalls = 3000): Promise<ProcessBenchResult> {
  const root = await mkdtemp(join(tmpdir(), 'tern-bench-process-'));
  const context = (name: string): RuntimeContext => ({
    dataDir: join(root, 'data'),
    scratchDir: join(root, name),
    logger: pino({ level: 'silent' }),
  });
  const ctx = context('scratch');
  const bare = context('scratch-unpooled');
  // zygotes: false keeps the per-language figures those of a sandbox per instance.
  const make = (create: typeof createPythonRuntime) => ({
    pooled: create(ctx, { zygotes: false }),
    unpooled: create(bare, { readyLaunchers: 0, zygotes: false }),
  });
  const forking = createPythonRuntime(context('scratch-zygote'));
  const runtimes = {
    python: make(createPythonRuntime),
    node: make(createNodeRuntime),
    binary: make(createBinaryRuntime),
  };
  const all = [...Object.values(runtimes).flatMap((r) => [r.pooled, r.unpooled]), forking];
  try {
    const probe = await runtimes.python.pooled.probe();
    if (!probe.available) throw new Error(`process sandboxes are not available here: ${probe.detail ?? ''}`);
    const lease = leaseKit(ctx.scratchDir);
    const nodePath = (await lease.kit()).node.path;
    await lease.release();
    const run = async (name: keyof typeof runtimes, language: Language, example: string, warm: number) =>
      benchLanguage(
        runtimes[name].pooled,
        runtimes[name].unpooled,
        language,
        await copyExample(root, example),
        nodePath,
        coldRuns,
        warm,
      );
    const online = await copyExample(root, 'hello-python');
    online.spec.network = true;
    await runtimes.python.pooled.prepare(online);
    await coldStarts(runtimes.python.pooled, online, 'online-warmup', 1, async () => undefined);
    const pythonNetworkCold = summarise(
      await coldStarts(runtimes.python.pooled, online, 'online', coldRuns, async () => undefined),
    );
    return {
      coldRuns,
      warmCalls,
      emptySandbox: await emptySandbox(bare, coldRuns),
      pythonNetworkCold,
      pythonZygote: await benchZygote(
        forking,
        runtimes.python.pooled,
        await copyExample(root, 'hello-python'),
        coldRuns,
      ),
      python: await run('python', python, 'hello-python', warmCalls),
      node: await run('node', node, 'hello-node', warmCalls),
      binary: await run('binary', binary, 'echo-binary', Math.min(warmCalls, 500)),
    };
  } finally {
    await Promise.all(all.map((r) => r.close()));
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [cold, warm] = process.argv.slice(2).map(Number);
  const result = await benchProcess(cold || undefined, warm || undefined);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}
