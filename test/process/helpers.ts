/** Shared set-up for the process runtime tests: contexts, fixtures copied to temp folders, calls, leftovers. */
import { cp, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createInvocation, type InvocationInit } from '../../src/core/invocation.js';
import type { Response } from '../../src/core/result.js';
import type { DeployedFunction } from '../../src/registry/registry.js';
import { parseFunctionToml, type FunctionSpec } from '../../src/registry/spec.js';
import type { HostServices, Instance, LogStream, Runtime, RuntimeContext } from '../../src/runtimes/runtime.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const FIXTURES = join(REPO, 'test/fixtures/process');
export const EXAMPLES = join(REPO, 'examples');

export interface LogLine {
  line: string;
  stream: LogStream;
  instance: string;
  callId: string | undefined;
}

export interface TestBed {
  ctx: RuntimeContext;
  root: string;
  scratch: string;
  /** InstanceOptions.scratchRoot given to every instance: must stay empty. */
  instanceScratch: string;
  logs: LogLine[];
  /** Copy a function folder (fixture or example) and describe it, with spec overrides. */
  fn(
    folder: string,
    overrides?: Partial<FunctionSpec>,
    edit?: (dir: string) => Promise<void>,
  ): Promise<DeployedFunction>;
  start(rt: Runtime, fn: DeployedFunction, id?: string): Promise<Instance>;
  /** Resolves with the first log line (already seen or coming) that matches. */
  waitForLog(match: (l: LogLine) => boolean, limitMs?: number): Promise<LogLine>;
  cleanup(): Promise<void>;
}

let instanceSeq = 0;

export async function testBed(host?: HostServices): Promise<TestBed> {
  const root = await mkdtemp(join(tmpdir(), 'tern-process-'));
  const scratch = join(root, 'scratch');
  const instanceScratch = join(root, 'instances');
  await mkdir(instanceScratch);
  const ctx: RuntimeContext = {
    dataDir: join(root, 'data'),
    scratchDir: scratch,
    logger: pino({ level: 'silent' }),
    ...(host ? { host } : {}),
  };
  const logs: LogLine[] = [];
  const waiters = new Set<(l: LogLine) => void>();
  const started: Instance[] = [];
  let copies = 0;
  return {
    ctx,
    root,
    scratch,
    instanceScratch,
    logs,
    async fn(folder, overrides = {}, edit) {
      const source = folder.startsWith('/') ? folder : join(FIXTURES, folder);
      const dir = join(root, `fn-${++copies}`);
      await cp(source, dir, { recursive: true });
      if (edit) await edit(dir);
      const spec = { ...parseFunctionToml(await readFile(join(dir, 'function.toml'), 'utf8')), ...overrides };
      return { spec, dir, version: `v${copies}`, deployedAt: new Date().toISOString() };
    },
    async start(rt, fn, id) {
      const instance = await rt.start(fn, {
        // Test files run in parallel processes: the pid keeps ids (and process searches) apart.
        id: id ?? `${fn.spec.name}-${process.pid}-t${++instanceSeq}`,
        log: (line, stream, instance, callId) => {
          const entry = { line, stream, instance, callId };
          logs.push(entry);
          for (const w of [...waiters]) w(entry);
        },
        scratchRoot: instanceScratch,
      });
      started.push(instance);
      return instance;
    },
    waitForLog(match, limitMs = 10_000) {
      const seen = logs.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise<LogLine>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error('no such log line in time'));
        }, limitMs);
        const waiter = (l: LogLine) => {
          if (!match(l)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(l);
        };
        waiters.add(waiter);
      });
    },
    async cleanup() {
      await Promise.all(started.map((i) => i.kill().catch(() => undefined)));
      await rm(root, { recursive: true, force: true });
    },
  };
}

export function invoke(
  instance: Instance,
  init: Partial<InvocationInit> = {},
  signal = new AbortController().signal,
): Promise<Response> {
  return instance.call(createInvocation({ function: 'test', trigger: 'http', ...init }), signal);
}

export function json(r: Response): unknown {
  return JSON.parse(r.body.toString('utf8'));
}

/** Host processes whose command line mentions `marker` (e.g. an instance id), other than us. */
export async function processesMentioning(marker: string): Promise<number[]> {
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
    if (cmd.includes(marker)) found.push(Number(entry));
  }
  return found;
}

/** The memory cgroup folder a process is in (a zygote's child is in its zygote's). */
export async function memoryCgroupOf(pid: number): Promise<string | undefined> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
  const v1 = lines.find((l) => /^\d+:memory:/.test(l));
  if (v1) return join('/sys/fs/cgroup/memory', v1.split(':')[2]!);
  const v2 = lines.find((l) => l.startsWith('0::'));
  return v2 ? join('/sys/fs/cgroup', v2.slice(3)) : undefined;
}

/** Tern cgroups (any controller) whose name mentions `marker`. */
export async function cgroupsMentioning(marker: string): Promise<string[]> {
  const parents = ['/sys/fs/cgroup/memory/tern', '/sys/fs/cgroup/pids/tern', '/sys/fs/cgroup/tern'];
  const found: string[] = [];
  for (const p of parents)
    for (const name of await readdir(p).catch(() => [] as string[]))
      if (name.includes(marker)) found.push(join(p, name));
  return found;
}
