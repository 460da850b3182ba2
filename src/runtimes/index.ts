/**
 * The runtimes this node offers. A new runtime is a new folder plus one line here.
 */
import type { NodeConfig } from '../config.js';
import type { RuntimeName } from '../registry/spec.js';
import { createContainerRuntime } from './container/index.js';
import { createMicrovmRuntime } from './microvm/index.js';
import { createBinaryRuntime, createNodeRuntime, createPythonRuntime } from './process/index.js';
import type { Runtime, RuntimeContext, RuntimeProbe } from './runtime.js';
import { createWasmRuntime } from './wasm/index.js';

export function createRuntimes(ctx: RuntimeContext, config: NodeConfig): Runtime[] {
  return [
    createWasmRuntime(ctx),
    createPythonRuntime(ctx),
    createNodeRuntime(ctx),
    createBinaryRuntime(ctx),
    createMicrovmRuntime(ctx, { accel: config.microvm.accel, tap: config.microvm.tap }),
    createContainerRuntime(ctx),
  ];
}

export interface ProbedRuntime {
  runtime: Runtime;
  probe: RuntimeProbe;
}

/** Probe every runtime in parallel; a probe that throws marks the runtime unavailable. */
export async function probeRuntimes(runtimes: Runtime[]): Promise<Map<RuntimeName, ProbedRuntime>> {
  const probed = await Promise.all(
    runtimes.map(async (runtime): Promise<ProbedRuntime> => {
      try {
        return { runtime, probe: await runtime.probe() };
      } catch (e) {
        return { runtime, probe: { available: false, detail: (e as Error).message } };
      }
    }),
  );
  return new Map(probed.map((p) => [p.runtime.name, p]));
}
