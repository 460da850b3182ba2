/** The Runtime for python, node and binary functions: one bubblewrap sandbox per instance. */
import { isExecutable } from '../../core/executable.js';
import { TernError } from '../../core/errors.js';
import { parseNetworkAllow } from '../../registry/network-allow.js';
import type { DeployedFunction } from '../../registry/registry.js';
import type { Instance, InstanceOptions, Runtime, RuntimeContext, RuntimeProbe } from '../runtime.js';
import { checkEnv, sandboxEnv } from './env.js';
import { ProcessInstance } from './instance.js';
import { leaseKit, type KitLease, type KitOptions, type SandboxKit } from './kit.js';
import type { Language } from './languages.js';
import { startSandbox } from './launch.js';
import { runOnce } from './oneshot.js';
import { checkLoads } from './load-check.js';
import { bakedKey, bwrapArgs, FN_MOUNT, SHIM_MOUNT, type SandboxPlan } from './sandbox.js';
import { attachNetwork } from './sandbox-network.js';
import { makeReadable } from './tree.js';
import { SpareSandboxes } from './spares.js';
import { Zygote, zygotesBuilt } from './zygote.js';

/** Processes and threads per instance: enough for node's helper threads, too few for a fork bomb. */
export const PIDS_MAX = 64;
const MIB = 1024 * 1024;
const PROBE_LIMITS = { memoryMiB: 256, pidsMax: 32, timeoutMs: 10_000 };
/** The probe's uid comes from a name no function can have. */
const PROBE_NAME = ':probe';

/** The sandbox plan of one instance of `fn`, whose folder's stage copy is `fnDir`. */
export function instancePlan(
  kit: SandboxKit,
  fn: DeployedFunction,
  fnDir: string,
  language: Language,
  instanceId: string,
): SandboxPlan {
  const spec = fn.spec;
  const etc = spec.network ? kit.etc.online : kit.etc.offline;
  return {
    fnDir,
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

/** Zygote ids are unique in the node process (several runtimes may start zygotes). */
let zygoteSeq = 0;

export interface ProcessRuntimeOptions extends KitOptions {
  /**
   * Python instances forked from a per-version zygote (zygote.ts); default on where the zygote's
   * seccomp program is built. TERN_PYTHON_ZYGOTE=off turns it off for a node. Where the node's
   * budget has no room for a zygote (one instance's memory), instances get a sandbox each.
   */
  zygotes?: boolean;
  /**
   * Single-use functions without a zygote get sandboxes started ahead of need (spares.ts); default
   * on. TERN_SPARES=off turns it off for a node.
   */
  spares?: boolean;
}

export class ProcessRuntime implements Runtime {
  private readonly instances = new Set<ProcessInstance>();
  private readonly lease: KitLease;
  /** By function folder (one per version) and spec: zygotes started or starting. */
  private readonly zygotes = new Map<string, Promise<Zygote>>();
  private readonly zygotesOn: boolean;
  private readonly spares: SpareSandboxes | undefined;

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly language: Language,
    options: ProcessRuntimeOptions = {},
  ) {
    this.lease = leaseKit(ctx.scratchDir, options);
    this.zygotesOn =
      language.name === 'python' && (options.zygotes ?? process.env.TERN_PYTHON_ZYGOTE !== 'off') && zygotesBuilt();
    if (options.spares ?? process.env.TERN_SPARES !== 'off')
      this.spares = new SpareSandboxes(
        async (fn, o) => this.startSandboxed(await this.kit(), fn, o),
        ctx.scratchDir,
        ctx.memory,
        ctx.logger.child({ runtime: language.name }),
      );
  }

  get name(): Language['name'] {
    return this.language.name;
  }

  /**
   * The sandbox kit (its stage mount, cgroup sweeps, uid allocation, ready launchers) is one per
   * node: the instances stay on the control loop.
   */
  hostedOn(): 'control' {
    return 'control';
  }

  /** The kit once this runtime has had it (release() must not build one). */
  private built: SandboxKit | undefined;

  private async kit(): Promise<SandboxKit> {
    this.built = await this.lease.kit();
    return this.built;
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
      const r = await runOnce(kit, plan, PROBE_LIMITS, kit.uids.identityOf(PROBE_NAME));
      if (r.code !== 0)
        return {
          available: false,
          detail: `a trial sandbox failed (exit ${r.code ?? r.signal}): ${r.output.trim().slice(-300)}`,
        };
      return {
        available: true,
        detail:
          `bubblewrap sandbox (seccomp, uid per function), cgroup v${kit.cgroups.version}, ` +
          `${typeof kit.network === 'string' ? `no network: ${kit.network}` : 'slirp4netns network'}, ` +
          `${r.output.trim().split('\n')[0]}`,
      };
    } catch (e) {
      return { available: false, detail: `a trial sandbox failed: ${(e as Error).message}` };
    }
  }

  async prepare(fn: DeployedFunction): Promise<void> {
    checkEnv(fn.spec.env);
    if (fn.spec.network) await this.checkNetwork();
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

  /**
   * Load the handler once in a sandbox (load-check.ts). Functions with a network are not loaded
   * ahead: their top-level code may need the network the check does not give.
   */
  async checkLoads(fn: DeployedFunction): Promise<void> {
    if (fn.spec.network || this.language.checkCommand === undefined) return;
    const kit = await this.kit();
    const paths = { fn: FN_MOUNT, shims: SHIM_MOUNT, node: kit.node.path };
    await checkLoads(kit, fn, this.language.checkCommand(fn.spec, paths));
  }

  /** A function that asks for a network is refused at deploy by a node that cannot give one. */
  private async checkNetwork(): Promise<void> {
    const kit = await this.kit().catch(() => undefined);
    if (kit && typeof kit.network === 'string')
      throw new TernError(
        'bad_spec',
        `function.toml: network: this node cannot give sandboxes a network (${kit.network})`,
      );
  }

  release(fn: DeployedFunction): void {
    this.spares?.release(fn.dir);
    // The version is gone: its zygote and stage copy go too (a kit never built has none).
    for (const [key, zygote] of this.zygotes) {
      if (!key.startsWith(`${fn.dir}\n`)) continue;
      this.zygotes.delete(key);
      void zygote.then((z) => z.close()).catch(() => undefined);
    }
    if (this.built) void this.built.stage.forget(fn.dir).catch(() => undefined);
  }

  /** The running zygote of `fn`'s version, started (again, if the last one died) when needed. */
  private async zygoteFor(
    kit: SandboxKit,
    fn: DeployedFunction,
    log: InstanceOptions['log'],
  ): Promise<Zygote | undefined> {
    const key = bakedKey(fn);
    const known = this.zygotes.get(key);
    if (known) {
      const zygote = await known.catch(() => undefined);
      if (zygote?.alive) return zygote;
      if (this.zygotes.get(key) === known) this.zygotes.delete(key);
      if (!zygote) return this.zygoteFor(kit, fn, log);
    }
    // The zygote counts as one instance's worth in the node's budget (its children as instances).
    const mib = fn.spec.memory;
    if (this.ctx.memory && !this.ctx.memory.tryReserve(mib)) return undefined;
    const id = `z${process.pid.toString(36)}-${(++zygoteSeq).toString(36)}`;
    const starting = kit.stage
      .functionCopy(fn.dir)
      .then((fnDir) => Zygote.start(kit, fn, fnDir, instancePlan(kit, fn, fnDir, this.language, id), id, log));
    this.zygotes.set(key, starting);
    starting.then(
      (zygote) => void zygote.finished.then(() => this.ctx.memory?.release(mib)),
      () => {
        this.ctx.memory?.release(mib);
        // A failed start is not kept: the next instance tries again (and reports its own error).
        if (this.zygotes.get(key) === starting) this.zygotes.delete(key);
      },
    );
    return starting;
  }

  /** An instance forked from the function's zygote; undefined when the budget has no room for one. */
  private async startForked(
    kit: SandboxKit,
    fn: DeployedFunction,
    options: InstanceOptions,
  ): Promise<Instance | undefined> {
    const zygote = await this.zygoteFor(kit, fn, options.log);
    if (!zygote) return undefined;
    const forked = await zygote.claim(options.id);
    const instance = new ProcessInstance({
      fn,
      options,
      cgroup: zygote.childCgroup,
      launched: {
        child: forked.process,
        channel: forked.channel,
        stdout: forked.process.stdout,
        stderr: forked.process.stderr,
      },
      cgi: false,
      host: this.ctx.host,
      ...(this.ctx.hostOps ? { hostOps: this.ctx.hostOps(options.id) } : {}),
    });
    this.instances.add(instance);
    void instance.finished.then(() => this.instances.delete(instance));
    try {
      await instance.waitReady();
    } catch (e) {
      await instance.kill().catch(() => undefined);
      throw e;
    }
    return instance;
  }

  async start(fn: DeployedFunction, options: InstanceOptions): Promise<Instance> {
    const kit = await this.kit();
    if (this.zygotesOn && !fn.spec.network) {
      const forked = await this.startForked(kit, fn, options);
      if (forked) return forked;
    }
    // A function with a network gets its own slirp per sandbox at start: not kept ahead.
    if (this.spares && fn.spec.singleUse && !fn.spec.network) {
      const spare = this.spares.take(fn, options);
      if (spare) return spare;
    }
    return this.startSandboxed(kit, fn, options);
  }

  /** A new sandbox of its own for one instance: a ready launcher, then the shim loads the handler. */
  private async startSandboxed(
    kit: SandboxKit,
    fn: DeployedFunction,
    options: InstanceOptions,
  ): Promise<ProcessInstance> {
    const network = fn.spec.network ? kit.network : undefined;
    if (typeof network === 'string')
      throw new TernError('unavailable', `"${fn.spec.name}" needs a network and this node has none: ${network}`);
    const fnDir = await kit.stage.functionCopy(fn.dir);
    const identity = kit.uids.identityOf(fn.spec.name);
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
    // Awaited below, unless the start fails first: then the kill rejects it with nobody waiting.
    ready.catch(() => undefined);
    this.instances.add(instance);
    void instance.finished.then(() => this.instances.delete(instance));
    try {
      const plan = instancePlan(kit, fn, fnDir, this.language, options.id);
      startSandbox(claimed.launched, identity, bwrapArgs(plan), plan.network);
      if (network)
        await attachNetwork(claimed.launched, {
          tools: network,
          identity,
          procsFiles: claimed.cgroup.procsFiles,
          allow: fn.spec.networkAllow ? parseNetworkAllow(fn.spec.networkAllow) : undefined,
          register: (c) => instance.addCompanion(c),
        });
      await ready;
    } catch (e) {
      await instance.kill().catch(() => undefined);
      throw e;
    }
    return instance;
  }

  async close(): Promise<void> {
    const spares = this.spares?.close();
    await Promise.all([...this.instances].map((i) => i.kill().catch(() => undefined)));
    const zygotes = [...this.zygotes.values()];
    this.zygotes.clear();
    await Promise.all(zygotes.map((z) => z.then((zygote) => zygote.close()).catch(() => undefined)));
    await spares;
    await this.lease.release();
  }
}
