/** The container runtime (`runtime = "container"`): see docs/functions.md. */
import type { RuntimeContext } from '../runtime.js';
import { ContainerRuntime, type ContainerOptions } from './runtime.js';

export type { ContainerOptions } from './runtime.js';
export { ContainerRuntime } from './runtime.js';

export function createContainerRuntime(ctx: RuntimeContext, options: ContainerOptions = {}): ContainerRuntime {
  return new ContainerRuntime(ctx, options);
}
