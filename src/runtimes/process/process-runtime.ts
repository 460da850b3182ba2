/** The Runtime for python, node and binary functions: one bubblewrap sandbox per instance. */
import { accessSync, constants } from 'node:fs';
import { TernError } from '../../core/errors.js';
import type { DeployedFunction } from '../../registry/registry.js';
import type { Instance, InstanceOptions, Runtime, RuntimeContext, RuntimeProbe } from '../runtime.js';
import { checkEnv, sandboxEnv } from './env.js';
import { ProcessInstance } from './instance.js';
import { leaseKit, type KitLease, type KitOptions, type SandboxKit } from './kit.js';
import type { Language } from './languages.js';
import { startSandbox } from './launch.js';
import { runOnce } from './oneshot.js';
import { bwrapArgs, FN_MOUNT, SHIM_MOUNT, type SandboxPlan } from './sandbox.js';
import { makeReadable } from './tree.js';

/** Processes and threads per instance: enough for node's helper threads, too few for a fork bomb. */
export const PIDS_MAX = 64;
const MIB = 1024 * 1024;
const PROBE_LIMITS = { memoryMiB: 256, pidsMax: 32, timeoutMs: 10_000 };

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The sandbox plan of one instance of `fn`. */
export function instancePlan(
  kit: SandboxKit,
  fn: DeployedFunction,
  language: Language,
  instanceId: string,
): SandboxPlan {
  const spec = fn.spec;
  const etc = spec.network ? kit.etc.online : kit.etc.offline;
  return {
    fnDir: fn.dir,
    shimsDir: kit.shimsDir,
    etcDir: etc.dir,
    network: spec.network,
    // /tmp lives in memory and is charged to the cgroup anyway: it cannot outgrow the limit.
    tmpBytes: spec.memory * MIB,
    hostname: spec.name,
    env: sandboxEnv(spec, instanceId),
    command: language.command(spec, instanceId, { fn: FN_MOUNT, shims: SHIM_MOUNT, node: kit.node.path }),
    readOnly: [...etc.binds, ...kit.node.binds],
  };
}

export type ProcessRuntimeOptions = KitOptions;

export class ProcessRuntime implements Runtime {
  private readonly instances = new Set<ProcessInstance>();
  private readonly lease: KitLease;

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly language: Language,
    options: ProcessRuntimeOptions = {},
  ) {
    this.lease = leaseKit(ctx.scratchDir, options);
  }

  get name(): Language['name'] {
    return this.language.name;
  }

  private kit(): Promise<SandboxKit> {
    return this.lease.kit();
  }

  async probe(): Promise<RuntimeProbe> {
    let kit: SandboxKit;
    try {
      kit = await this.kit();
    } catch (e) {
      return { available: false, detail: (e as Error).message };
    }
    const interpreter = this.language.interpreter(kit);
    if (!isExecutable(interpreter)) return { available: false, detail: `${interpreter} is not installed` };
    const plan: SandboxPlan = {
      fnDir: kit.emptyDir,
      shimsDir: kit.shimsDir,
      etcDir: kit.etc.offline.dir,
      network: false,
      tmpBytes: 16 * MIB,
      hostname: 'probe',
      env: { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8' },
      command: [interpreter, '--version'],
      readOnly: [...kit.etc.offline.binds, ...kit.node.binds],
    };
    try {
      const r = await runOnce(kit, plan, PROBE_LIMITS);
      if (r.code !== 0)
        return {
          available: false,
          detail: `a trial sandbox failed (exit ${r.code ?? r.signal}): ${r.output.trim().slice(-300)}`,
        };
      return {
        available: true,
        detail: `bubblewrap sandbox, cgroup v${kit.cgroups.version}, ${r.output.trim().split('\n')[0]}`,
      };
    } catch (e) {
      return { available: false, detail: `a trial sandbox failed: ${(e as Error).message}` };
    }
  }

  async prepare(fn: DeployedFunction): Promise<void> {
    checkEnv(fn.spec.env);
    // The sandbox user is not the owner: it must be able to read (and, for binaries, run) the code.
    await makeReadable(fn.dir);
    await this.language.prepare(fn, () =>
      this.kit().catch((e: unknown) => {
        throw new TernError(
          'bad_spec',
          `runtime "${this.name}" cannot install dependencies on this node: ${(e as Error).message}`,
        );
      }),
    );
  }

  release(): void {
    // Nothing is cached per version: the code folder is bound as it is.
  }

  async start(fn: DeployedFunction, options: InstanceOptions): Promise<Instance> {
    const kit = await this.kit();
    const claimed = await kit.launchers.claim(options.id, { memoryBytes: fn.spec.memory * MIB, pidsMax: PIDS_MAX });
    const instance = new ProcessInstance({
      fn,
      options,
      cgroup: claimed.cgroup,
      launched: claimed.launched,
      cgi: this.language.cgi,
      host: this.ctx.host,
      ...(this.ctx.hostOps ? { hostOps: this.ctx.hostOps(options.id) } : {}),
    });
    const ready = instance.waitReady();
    this.instances.add(instance);
    void instance.finished.then(() => this.instances.delete(instance));
    try {
      startSandbox(claimed.launched, bwrapArgs(instancePlan(kit, fn, this.language, options.id)));
      await ready;
    } catch (e) {
      await instance.kill().catch(() => undefined);
      throw e;
    }
    return instance;
  }

  async close(): Promise<void> {
    await Promise.all([...this.instances].map((i) => i.kill().catch(() => undefined)));
    await this.lease.release();
  }
}
