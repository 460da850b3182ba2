/** One running micro-VM: calls are proxied to its HTTP server; stop and kill end its process. */
import { Agent } from 'node:http';
import { TernError } from '../../core/errors.js';
import type { Invocation } from '../../core/invocation.js';
import type { Response } from '../../core/result.js';
import type { Instance } from '../runtime.js';
import { proxyCall } from './http-proxy.js';
import type { VmProcess } from './vm-process.js';

/** A graceful stop: the hypervisor gets SIGTERM, and SIGKILL after this long. */
const STOP_GRACE_MS = 2_000;

export interface MicrovmInstanceInit {
  id: string;
  marker: string;
  accel: string;
  vm: VmProcess;
  /** Where calls go: 127.0.0.1 and the forwarded port (user-mode network), or the guest's tap address. */
  guest: { host: string; port: number };
  /** The port the guest serves on, for messages. */
  guestPort: number;
  maxResponseBytes: number;
  /** Releases what the VM held (scratch folder, tap device, run record); runs once, after the process is gone. */
  cleanup(): Promise<void>;
}

export class MicrovmInstance implements Instance {
  readonly id: string;
  /** Unique string on the hypervisor's command line (find it with `pgrep -f`). */
  readonly marker: string;
  readonly accel: string;
  private readonly vm: VmProcess;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private ending = false;
  private readonly exitListeners: ((reason: string) => void)[] = [];
  /** Resolves once the VM process is gone and its resources released. */
  readonly gone: Promise<void>;

  constructor(private readonly init: MicrovmInstanceInit) {
    this.id = init.id;
    this.marker = init.marker;
    this.accel = init.accel;
    this.vm = init.vm;
    this.gone = this.vm.exited.then(async (how) => {
      this.agent.destroy();
      // Cleanup removes files and devices; a failure there must not turn into a failed stop.
      await init.cleanup().catch(() => undefined);
      if (this.ending) return;
      const stderr = this.vm.stderrSummary();
      const reason = `VM exited (${how})${stderr ? `: ${stderr}` : ''}`;
      for (const listener of this.exitListeners) listener(reason);
    });
  }

  /** The hypervisor's process id. */
  get pid(): number {
    return this.vm.pid;
  }

  call(inv: Invocation, signal: AbortSignal): Promise<Response> {
    if (this.vm.hasExited) return Promise.reject(new TernError('function_crashed', 'the VM has exited'));
    return proxyCall({ ...this.init.guest, agent: this.agent }, inv, signal, this.init.maxResponseBytes, {
      explain: (e) => {
        if (this.vm.hasExited) return new TernError('function_crashed', 'the VM exited during the call');
        const code = (e as NodeJS.ErrnoException).code ?? e.message;
        return new TernError(
          'function_crashed',
          `the guest's HTTP server on port ${this.init.guestPort} did not answer (${code})`,
        );
      },
    });
  }

  async stop(): Promise<void> {
    this.ending = true;
    await this.vm.terminate(STOP_GRACE_MS);
    await this.gone;
  }

  async kill(): Promise<void> {
    this.ending = true;
    await this.vm.kill();
    await this.gone;
  }

  onExit(listener: (reason: string) => void): void {
    this.exitListeners.push(listener);
  }
}
