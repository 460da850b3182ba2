/**
 * Shared set-up for the wasm runtime tests: builds the real modules (examples and fixtures) with
 * their build.sh, makes a runtime with a quiet logger, and describes functions the way the
 * registry would (a spec, a folder, a version).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createInvocation, type InvocationInit } from '../../src/core/invocation.js';
import type { DeployedFunction } from '../../src/registry/registry.js';
import { normaliseSpec } from '../../src/registry/spec.js';
import type { Instance, LogStream, Runtime } from '../../src/runtimes/runtime.js';
import { createWasmRuntime, type WasmRuntimeOptions } from '../../src/runtimes/wasm/index.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const EXAMPLES = join(REPO, 'examples');
export const FIXTURES = join(REPO, 'test/fixtures/wasm');
export const FIXTURE_BUILD = join(FIXTURES, 'build');

/** Build the examples and fixtures the tests use (each build.sh is idempotent and fast when done). */
export function buildModules(): void {
  for (const script of [
    join(EXAMPLES, 'hello/build.sh'),
    join(EXAMPLES, 'echo/build.sh'),
    join(EXAMPLES, 'sieve/build.sh'),
    join(FIXTURES, 'build.sh'),
  ]) {
    execFileSync('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  }
}

export function newRuntime(options: WasmRuntimeOptions = {}): Runtime {
  return createWasmRuntime(
    { dataDir: REPO, scratchDir: REPO, logger: pino({ level: 'silent' }) },
    { workers: 2, ...options },
  );
}

let versions = 0;

/** A deployed function as the registry hands it over: spec from function.toml keys, a folder, a version. */
export function deployed(dir: string, toml: Record<string, unknown>): DeployedFunction {
  const spec = normaliseSpec({ runtime: 'wasm', ...toml });
  return { spec, dir, version: `test${++versions}`, deployedAt: new Date().toISOString() };
}

export interface LogLine {
  line: string;
  stream: LogStream;
  instance: string;
  callId: string | undefined;
}

export interface Started {
  instance: Instance;
  logs: LogLine[];
}

let instances = 0;

export async function startInstance(runtime: Runtime, fn: DeployedFunction): Promise<Started> {
  const logs: LogLine[] = [];
  const instance = await runtime.start(fn, {
    id: `i${++instances}`,
    scratchRoot: REPO,
    log: (line, stream, inst, callId) => logs.push({ line, stream, instance: inst, callId }),
  });
  return { instance, logs };
}

export function invocation(fn: string, init: Partial<InvocationInit> = {}) {
  return createInvocation({ function: fn, trigger: 'http', ...init });
}

/** A signal nobody aborts (one per call, as the pool gives each call its own). */
export function never(): AbortSignal {
  return new AbortController().signal;
}
