/** The micro-VM runtime (`runtime = "microvm"`): see docs/runtime-microvm.md. */
import type { Runtime, RuntimeContext } from '../runtime.js';
import { MicrovmRuntime, type MicrovmOptions } from './runtime.js';

export type { MicrovmOptions } from './runtime.js';
export { MicrovmRuntime } from './runtime.js';
export { MicrovmInstance } from './instance.js';

export function createMicrovmRuntime(ctx: RuntimeContext, options: MicrovmOptions): Runtime {
  return new MicrovmRuntime(ctx, options);
}
