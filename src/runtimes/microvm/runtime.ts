/**
 * The micro-VM runtime: each instance is a VM on QEMU's `microvm` machine (or Firecracker, when
 * installed and asked for) booting the function's kernel and image, serving HTTP on port 8080 and
 * calling back when ready. Mechanism only: the pool decides when VMs start and stop.
 */
import type { Logger } from 'pino';
import { join } from 'node:path';
import { TernError } from '../../core/errors.js';
import type { DeployedFunction } from '../../registry/registry.js';
import type { Instance, InstanceOptions, Runtime, RuntimeContext, RuntimeProbe } from '../runtime.js';
import { decideAccel, type AccelDecision, type AccelMode } from './accel-probe.js';
import { CallbackServer } from './callback-server.js';
import { checkCmdline, LONGEST_NETWORK, substituteCmdline } from './cmdline.js';
import { findFirecracker } from './firecracker.js';
import type { MicrovmInstance } from './instance.js';
import { launchVm } from './launch.js';
import { killIfOurs, RunRecords } from './run-records.js';
import { removeTap } from './tap.js';
import { resolveVmFiles, type VmFiles } from './vm-files.js';

export interface MicrovmOptions {
  /** auto: KVM if a test boot under KVM works, else emulation (tcg). */
  accel: AccelMode;
  /** Tap devices instead of QEMU's user-mode network (needs CAP_NET_ADMIN; Firecracker needs it). */
  tap: boolean;
  /** Time from process start to the guest's callback before the VM is killed. Default 45 s under tcg, 15 s under kvm. */
  readyTimeoutMs?: number;
  /** QEMU binary. Default: qemu-system-x86_64 on PATH. */
  qemu?: string;
  /** Kernel for the KVM test boot. Default: the newest readable /boot/vmlinuz-*. */
  probeKernel?: string;
  /** Bound of the KVM test boot. Default 20 s. */
  probeTimeoutMs?: number;
  /** TCP port the guest serves HTTP on. Default 8080. */
  guestPort?: number;
  /** Largest response body taken from a guest. Default 32 MiB. */
  maxResponseBytes?: number;
}

const DEFAULT_READY_MS = { tcg: 45_000, kvm: 15_000 } as const;

export class MicrovmRuntime implements Runtime {
  /** VMs, their callback listener and their records stay with the control loop. */
  hostedOn(): 'control' {
    return 'control';
  }

  readonly name = 'microvm' as const;
  private readonly callbacks = new CallbackServer();
  private readonly records: RunRecords;
  private readonly logger: Logger;
  private readonly files = new Map<string, Promise<VmFiles>>();
  private readonly live = new Set<MicrovmInstance>();
  /** Starts in flight: close() waits for them to undo themselves. */
  private readonly launching = new Set<Promise<MicrovmInstance>>();
  private decision: Promise<AccelDecision> | undefined;
  private firecracker: Promise<string | undefined> | undefined;
  private closed = false;
  private readonly closing = new AbortController();

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly options: MicrovmOptions,
  ) {
    this.records = new RunRecords(join(ctx.dataDir, 'microvm', 'run'));
    this.logger = ctx.logger.child({ runtime: 'microvm' });
  }

  get qemu(): string {
    return this.options.qemu ?? 'qemu-system-x86_64';
  }

  async probe(): Promise<RuntimeProbe> {
    const d = await this.decide();
    return { available: d.available, detail: d.detail };
  }

  async prepare(fn: DeployedFunction): Promise<void> {
    const vm = fn.spec.vm;
    if (!vm) throw new TernError('bad_spec', 'function.toml: vm: a [vm] table is required for runtime "microvm"');
    // Allow-lists are enforced in process sandboxes only: a VM would get the whole network instead.
    if (fn.spec.networkAllow)
      throw new TernError('bad_spec', 'function.toml: network: the microvm runtime takes true or false, not a list');
    checkCmdline(substituteCmdline(vm.cmdline, LONGEST_NETWORK));
    if (vm.hypervisor === 'firecracker') {
      if (!(await this.findFirecracker()))
        throw new TernError(
          'bad_spec',
          'vm.hypervisor: firecracker is not installed on this node (put it on PATH or set FIRECRACKER_EXE)',
        );
      if (!this.options.tap)
        throw new TernError(
          'bad_spec',
          'vm.hypervisor: firecracker needs tap networking (node config microvm.tap = true)',
        );
    }
    await this.filesOf(fn);
  }

  release(fn: DeployedFunction): void {
    this.files.delete(this.filesKey(fn));
  }

  async start(fn: DeployedFunction, o: InstanceOptions): Promise<Instance> {
    if (this.closed) throw new TernError('unavailable', 'the microvm runtime is shut down');
    const d = await this.decide();
    if (!d.available) throw new TernError('unavailable', `microvm runtime unavailable: ${d.detail}`);
    const spec = fn.spec;
    if (!spec.vm) throw new TernError('bad_spec', 'function.toml: vm: a [vm] table is required for runtime "microvm"');
    const files = await this.filesOf(fn);
    const firecracker = spec.vm.hypervisor === 'firecracker' ? await this.findFirecracker() : undefined;
    if (spec.vm.hypervisor === 'firecracker' && (!firecracker || !this.options.tap)) {
      throw new TernError(
        'unavailable',
        'firecracker needs its binary (PATH or FIRECRACKER_EXE) and microvm.tap = true',
      );
    }
    const launching = launchVm(
      {
        qemu: this.qemu,
        ...(firecracker ? { firecracker } : {}),
        accel: d.accel,
        tap: this.options.tap,
        guestPort: this.options.guestPort ?? 8080,
        readyTimeoutMs: this.options.readyTimeoutMs ?? DEFAULT_READY_MS[d.accel],
        maxResponseBytes: this.options.maxResponseBytes ?? 32 * 1024 * 1024,
        callbacks: this.callbacks,
        records: this.records,
        closing: this.closing.signal,
      },
      spec,
      files,
      o,
    );
    this.launching.add(launching);
    const instance = await launching.finally(() => this.launching.delete(launching));
    if (this.closed) {
      await instance.kill();
      throw new TernError('unavailable', 'the microvm runtime is shut down');
    }
    this.live.add(instance);
    void instance.gone.then(() => this.live.delete(instance));
    return instance;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    await Promise.allSettled([...this.launching]);
    await Promise.all([...this.live].map((i) => i.kill()));
    this.live.clear();
    await this.callbacks.close();
  }

  /** Once per runtime: reap what a dead earlier node left, then choose the accelerator. */
  private decide(): Promise<AccelDecision> {
    this.decision ??= (async () => {
      const reaped = await this.records.reapLeftovers(async (r) => {
        await killIfOurs(r.pid, r.marker);
        if (r.tap) await removeTap(r.tap);
      });
      if (reaped > 0)
        this.logger.warn(
          { event: 'microvm_leftovers', count: reaped },
          `microvm: removed ${reaped} VM(s) left by an earlier run`,
        );
      const d = await decideAccel({
        mode: this.options.accel,
        qemu: this.qemu,
        ...(this.options.probeKernel ? { kernel: this.options.probeKernel } : {}),
        scratchDir: join(this.ctx.scratchDir, 'microvm-probe'),
        timeoutMs: this.options.probeTimeoutMs ?? 20_000,
        onLine: (line) => this.logger.debug({ event: 'microvm_probe_console', line }),
      });
      // QEMU's own words on a failed KVM boot (aborts, register dumps) are for debugging, not for every start.
      this.logger.debug({ event: 'microvm_probe', available: d.available, detail: d.detail }, `microvm: ${d.detail}`);
      if (d.available && d.accel === 'tcg' && d.detail.includes('KVM test boot failed'))
        this.logger.info(
          { event: 'microvm_probe', accel: 'tcg' },
          'microvm: KVM does not work on this host, VMs run under tcg (slower); --log-level debug says why',
        );
      return d;
    })();
    return this.decision;
  }

  private findFirecracker(): Promise<string | undefined> {
    this.firecracker ??= findFirecracker();
    return this.firecracker;
  }

  private filesKey(fn: DeployedFunction): string {
    return `${fn.dir}\0${fn.version}`;
  }

  /** Resolved and classified once per version; a failed check is not cached. */
  private filesOf(fn: DeployedFunction): Promise<VmFiles> {
    const key = this.filesKey(fn);
    let files = this.files.get(key);
    if (!files) {
      files = resolveVmFiles(fn.dir, fn.spec.vm!);
      this.files.set(key, files);
      files.catch(() => this.files.delete(key));
    }
    return files;
  }
}
