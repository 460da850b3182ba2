/**
 * Process runtimes: python, node and binary functions as long-lived processes in bubblewrap
 * sandboxes (namespaces, read-only system, cgroup memory and pids limits, no privileges).
 */
import type { Runtime, RuntimeContext } from '../runtime.js';
import { binary, node, python } from './languages.js';
import { ProcessRuntime, type ProcessRuntimeOptions } from './process-runtime.js';

export type { ProcessRuntimeOptions };

export function createPythonRuntime(ctx: RuntimeContext, options?: ProcessRuntimeOptions): Runtime {
  return new ProcessRuntime(ctx, python, options);
}

export function createNodeRuntime(ctx: RuntimeContext, options?: ProcessRuntimeOptions): Runtime {
  return new ProcessRuntime(ctx, node, options);
}

export function createBinaryRuntime(ctx: RuntimeContext, options?: ProcessRuntimeOptions): Runtime {
  return new ProcessRuntime(ctx, binary, options);
}
