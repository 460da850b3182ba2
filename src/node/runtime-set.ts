/** The node's runtimes, probed in the background so a slow probe (a test VM boot) never delays serving. */
import type { Logger } from 'pino';
import { TernError } from '../core/errors.js';
import type { RuntimeInfo } from '../core/node-info.js';
import type { FunctionSpec, RuntimeName } from '../registry/spec.js';
import type { Runtime, RuntimeProbe } from '../runtimes/runtime.js';
import type { Part } from './lifecycle.js';

export class RuntimeSet implements Part {
  readonly name = 'runtimes';
  private readonly byName = new Map<RuntimeName, Runtime>();
  private readonly probes = new Map<RuntimeName, Promise<RuntimeProbe>>();
  private readonly results = new Map<RuntimeName, RuntimeProbe>();

  constructor(runtimes: Runtime[], logger: Logger) {
    for (const runtime of runtimes) {
      this.byName.set(runtime.name, runtime);
      const probe = runtime
        .probe()
        .catch((e: unknown): RuntimeProbe => ({ available: false, detail: (e as Error).message }));
      this.probes.set(runtime.name, probe);
      void probe.then((result) => {
        this.results.set(runtime.name, result);
        logger.info(
          { event: 'runtime', runtime: runtime.name, ...result },
          `runtime ${runtime.name} ${result.available ? 'available' : 'unavailable'}`,
        );
      });
    }
  }

  get(name: RuntimeName): Runtime | undefined {
    return this.byName.get(name);
  }

  info(): RuntimeInfo[] {
    return [...this.byName.keys()].map((name) => {
      const r = this.results.get(name);
      return r
        ? { name, available: r.available, ...(r.detail ? { detail: r.detail } : {}) }
        : { name, available: false, detail: 'probing' };
    });
  }

  /** The runtime for a spec, once its probe says it can run here; else a 400 naming why. */
  async require(spec: FunctionSpec): Promise<Runtime> {
    const runtime = this.byName.get(spec.runtime);
    const probe = await this.probes.get(spec.runtime);
    if (!runtime || !probe?.available) {
      throw new TernError(
        'bad_spec',
        `runtime: "${spec.runtime}" is not available on this node${probe?.detail ? ` (${probe.detail})` : ''}`,
      );
    }
    return runtime;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.byName.values()].map((r) => r.close()));
  }
}
