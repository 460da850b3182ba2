/** The node's runtimes, probed in the background so a slow probe (a test VM boot) never delays serving. */
import type { Logger } from 'pino';
import { TernError } from '../core/errors.js';
import type { RuntimeInfo } from '../core/node-info.js';
import type { FunctionSpec, RuntimeName } from '../registry/spec.js';
import type { Runtime, RuntimeProbe } from '../runtimes/runtime.js';
import type { Part } from './lifecycle.js';

/** The longest reason shown for an unavailable runtime in the summary line (the API has it whole). */
const MAX_REASON_CHARS = 140;

/** One line for every runtime: "runtimes: wasm, python, microvm (tcg); not available: container (…)". */
export function runtimeSummary(info: RuntimeInfo[]): string {
  const available = info
    .filter((r) => r.available)
    .map((r) => {
      const accel = r.name === 'microvm' ? /^(kvm|tcg)\b/.exec(r.detail ?? '')?.[1] : undefined;
      return accel ? `${r.name} (${accel})` : r.name;
    });
  const missing = info
    .filter((r) => !r.available)
    .map((r) => {
      const reason = (r.detail ?? '').split('\n')[0]!;
      return `${r.name} (${reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS - 1)}…` : reason})`;
    });
  return `runtimes: ${available.join(', ') || 'none'}${missing.length ? `; not available: ${missing.join('; ')}` : ''}`;
}

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
        logger.debug(
          { event: 'runtime', runtime: runtime.name, ...result },
          `runtime ${runtime.name} ${result.available ? 'available' : 'unavailable'}`,
        );
      });
    }
    void Promise.all(this.probes.values()).then(() => {
      const info = this.info();
      logger.info({ event: 'runtimes', runtimes: info }, runtimeSummary(info));
    });
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
