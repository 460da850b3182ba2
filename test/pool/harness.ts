/** A scheduler wired to the fake runtime, a recording telemetry and a temp data folder. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createInvocation, type Invocation } from '../../src/core/invocation.js';
import type { Registry } from '../../src/registry/registry.js';
import { createScheduler, type NodeScheduler, type SchedulerOptions } from '../../src/scheduler/scheduler.js';
import { FakeRuntime, RecordingTelemetry } from './fake-runtime.js';

export interface Harness {
  scheduler: NodeScheduler;
  runtime: FakeRuntime;
  telemetry: RecordingTelemetry;
  dir: string;
  pruned: string[];
  /** Resolves at the next registry.prune call, with the name. */
  nextPrune(): Promise<string>;
  /** Closes the scheduler (if not yet) and removes the temp folder. */
  cleanup(): Promise<void>;
}

export interface HarnessOptions extends Partial<Omit<SchedulerOptions, 'calls'>> {
  calls?: Partial<SchedulerOptions['calls']>;
  /** Reuse a data folder (restart tests). */
  dir?: string;
  runtime?: FakeRuntime;
}

export const silentLogger = pino({ level: 'silent' });

export async function harness(o: HarnessOptions = {}): Promise<Harness> {
  const dir = o.dir ?? (await mkdtemp(join(tmpdir(), 'tern-pool-test-')));
  const runtime = o.runtime ?? new FakeRuntime();
  const telemetry = new RecordingTelemetry();
  const pruned: string[] = [];
  let pruneWaiters: ((name: string) => void)[] = [];
  const registry: Registry = {
    open: async () => {},
    list: () => [],
    get: () => undefined,
    deploy: async () => {
      throw new Error('not in this fake');
    },
    deployFolder: async () => {
      throw new Error('not in this fake');
    },
    remove: async () => undefined,
    prune: async (name) => {
      pruned.push(name);
      const waiters = pruneWaiters;
      pruneWaiters = [];
      for (const w of waiters) w(name);
    },
    subscribe: () => () => {},
    close: async () => {},
  };
  const { calls, dir: _dir, runtime: _runtime, ...rest } = o;
  const scheduler = await createScheduler({
    nodeName: 'test-node',
    runtimes: (name) => (name === runtime.name ? runtime : undefined),
    registry,
    memoryBudgetMiB: 1024,
    queue: { capacity: 10, waitMs: 30_000 },
    scratchDir: dir,
    telemetry,
    logSink: () => {},
    logger: silentLogger,
    ...rest,
    calls: { retentionMs: 3_600_000, max: 100, dir: join(dir, 'calls'), ...calls },
  });
  let closed = false;
  return {
    scheduler,
    runtime,
    telemetry,
    dir,
    pruned,
    nextPrune: () => new Promise((resolve) => pruneWaiters.push(resolve)),
    cleanup: async () => {
      if (!closed) await scheduler.close(2_000);
      closed = true;
      if (o.dir === undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

export function call(fn: string, body = ''): Invocation {
  return createInvocation({ function: fn, trigger: 'http', method: 'POST', body: Buffer.from(body) });
}
