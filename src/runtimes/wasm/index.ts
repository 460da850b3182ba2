/**
 * runtime = "wasm": WASI preview-1 command modules, CGI style, each call in a fresh
 * WebAssembly.Instance on a shared pool of worker threads. See docs/runtime-wasm.md.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { DeployedFunction } from '../../registry/registry.js';
import type { Instance, InstanceOptions, Runtime, RuntimeContext, RuntimeProbe } from '../runtime.js';
import { InlineRunner } from './inline.js';
import { WasmInstance } from './instance.js';
import { compileFunction, type CompiledModule } from './prepare.js';
import { wasm } from './wasm-api.js';
import { WORKER_URL, type Program } from './pooled-worker.js';
import { WorkerPool } from './worker-pool.js';

export interface WasmRuntimeOptions {
  /** Worker threads shared by all wasm functions (default: the machine's cores). */
  workers?: number;
  /**
   * Longest the main thread spins for a short call's answer before it waits on the event loop, µs
   * (default 20; 0 never spins). Spinning cuts a round trip from ~10–40 µs to ~2 µs when a core is
   * free; when none is, spins come back empty and spinning backs off by itself (see spin.ts).
   */
  spinUs?: number;
  /** How long an idle worker spins for its next request before it parks, µs (default 20; same rules). */
  workerSpinUs?: number;
  /** Calls that may wait for a free worker before new ones get no_capacity (default 10000). */
  maxQueue?: number;
  /** Bytes of stdout a call may write (default 16 MiB); past it the call fails. */
  maxStdout?: number;
  /** Bytes of stderr kept per call (default 1 MiB); the rest is dropped. */
  maxStderr?: number;
  /** Run short calls of preemptible modules on the calling thread (default true; inline.ts). */
  inline?: boolean;
}

/** Same module, same limit, same handler: same compiled program. The folder path is left out on
 * purpose: prepare sees the unpacked temp folder, start the committed one (the hash is the same). */
function cacheKey(fn: DeployedFunction): string {
  return [fn.spec.name, fn.version || fn.dir, fn.spec.handler, fn.spec.memory].join('\0');
}

/** What the worker pool and the inline runner need of a compiled module. */
function programOf(compiled: CompiledModule, id: number): Program {
  const program: Program = { id, message: compiled.message, recentRunUs: 0, usesHost: compiled.usesHost };
  const v = compiled.inline;
  if (v) {
    const reset = v.resettable ? { reset: { globals: v.mutableGlobals } } : {};
    program.inline = {
      message: { ...compiled.message, ...reset, type: 'program', id, module: v.module },
      notBefore: 0,
    };
  }
  return program;
}

export function createWasmRuntime(ctx: RuntimeContext, options: WasmRuntimeOptions = {}): Runtime {
  const logger = ctx.logger.child({ runtime: 'wasm' });
  const limits = { stdout: options.maxStdout ?? 16 * 1024 * 1024, stderr: options.maxStderr ?? 1024 * 1024 };
  const workers = Math.max(1, options.workers ?? Math.round(availableParallelism() * (ctx.coreShare ?? 1)));
  const pool = new WorkerPool({
    size: workers,
    spinUs: options.spinUs ?? 20,
    workerSpinUs: options.workerSpinUs ?? 20,
    maxQueue: options.maxQueue ?? 10_000,
    limits,
    logger,
  });
  const programs = new Map<string, Promise<Program>>();
  const inline = new InlineRunner(limits, options.inline ?? true);
  /** Compiled programs by cache key, once known: whether they import `tern` (state, chaining). */
  const usesHost = new Map<string, boolean>();
  let nextId = 1;

  function programFor(fn: DeployedFunction): Promise<Program> {
    const key = cacheKey(fn);
    let p = programs.get(key);
    if (!p) {
      const id = nextId++;
      p = compileFunction(fn.spec, fn.dir).then((compiled) => {
        if (compiled.note)
          logger.warn(
            { function: fn.spec.name, version: fn.version },
            `wasm: ${compiled.note}; the memory cap still holds, running out is detected by heuristic`,
          );
        usesHost.set(key, compiled.usesHost);
        return programOf(compiled, id);
      });
      programs.set(key, p);
      // A refused module is not cached: a fixed upload under the same key must be looked at again.
      p.catch(() => {
        if (programs.get(key) === p) programs.delete(key);
      });
    }
    return p;
  }

  return {
    name: 'wasm',
    freshPerCall: true,

    // Modules that import `tern` call the state service and the scheduler, which live on the control loop.
    hostedOn: (fn) => (usesHost.get(cacheKey(fn)) === false ? 'loops' : 'control'),

    async probe(): Promise<RuntimeProbe> {
      if (typeof wasm !== 'object') return { available: false, detail: 'this Node has no WebAssembly' };
      const workerFile = fileURLToPath(WORKER_URL);
      if (!existsSync(workerFile))
        return { available: false, detail: `worker script missing: ${workerFile} (run the build)` };
      return {
        available: true,
        detail: `WASI preview1, in-memory; up to ${workers} worker threads`,
      };
    },

    async prepare(fn: DeployedFunction): Promise<void> {
      await programFor(fn);
      pool.prewarm();
    },

    release(fn: DeployedFunction): void {
      const key = cacheKey(fn);
      const p = programs.get(key);
      if (!p) return;
      programs.delete(key);
      usesHost.delete(key);
      void p
        .then((program) => {
          pool.forget(program.id);
          inline.forget(program.id);
        })
        .catch(() => undefined);
    },

    async start(fn: DeployedFunction, instanceOptions: InstanceOptions): Promise<Instance> {
      const program = await programFor(fn);
      return new WasmInstance(fn, program, { pool, inline }, instanceOptions, ctx.host);
    },

    async close(): Promise<void> {
      await pool.close();
      programs.clear();
    },
  };
}
