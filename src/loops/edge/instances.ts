/**
 * The instances living on this edge loop, started and stopped when the pool says so (it sees them
 * through RemoteInstance, src/loops/remote.ts). Each runtime here is the same mechanism as on the
 * control loop; only where the instance's process, pipes or wasm engine live differs.
 */
import { TernError } from '../../core/errors.js';
import type { LogSink } from '../../core/logs.js';
import type { RuntimeName } from '../../registry/spec.js';
import type { DeployedFunction } from '../../registry/registry.js';
import type { Instance, Runtime } from '../../runtimes/runtime.js';

export class EdgeInstances {
  private readonly instances = new Map<string, Instance>();

  constructor(
    private readonly runtimes: Map<RuntimeName, Runtime>,
    private readonly scratchDir: string,
    private readonly log: LogSink,
    /** The instance died on its own (not through stop or kill). */
    private readonly exited: (instance: string, reason: string) => void,
  ) {}

  get(id: string): Instance | undefined {
    return this.instances.get(id);
  }

  async start(fn: DeployedFunction, runtimeName: RuntimeName, id: string): Promise<void> {
    const runtime = this.runtimes.get(runtimeName);
    if (runtime === undefined)
      throw new TernError('unavailable', `runtime "${runtimeName}" is not available on this loop`);
    const instance = await runtime.start(fn, { id, log: this.log, scratchRoot: this.scratchDir });
    this.instances.set(id, instance);
    instance.onExit((reason) => {
      if (this.instances.delete(id)) this.exited(id, reason);
    });
  }

  /** The instance, or a crash error the pool understands. */
  require(id: string): Instance {
    const instance = this.instances.get(id);
    if (instance === undefined) throw new TernError('function_crashed', `instance ${id} is gone`);
    return instance;
  }

  async stop(id: string): Promise<void> {
    const instance = this.instances.get(id);
    this.instances.delete(id);
    await instance?.stop();
  }

  async kill(id: string): Promise<void> {
    const instance = this.instances.get(id);
    this.instances.delete(id);
    await instance?.kill();
  }

  release(fn: DeployedFunction): void {
    this.runtimes.get(fn.spec.runtime)?.release(fn);
  }

  /** Node shutdown: whatever the pool did not stop (it should have) goes now. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.instances.values()].map((i) => i.kill()));
    this.instances.clear();
    await Promise.allSettled([...this.runtimes.values()].map((r) => r.close()));
  }
}
