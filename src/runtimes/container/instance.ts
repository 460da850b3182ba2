/**
 * One running container: calls go to its port through the forwarder's unix socket; its exit is
 * always explained (out of memory, exit status, the runtime's last words); stop and kill leave
 * no process, cgroup, container state or bundle folder behind.
 */
import { Agent } from 'node:http';
import { readFile, rm } from 'node:fs/promises';
import { TernError } from '../../core/errors.js';
import type { Invocation } from '../../core/invocation.js';
import type { Response } from '../../core/result.js';
import { proxyCall } from '../microvm/http-proxy.js';
import type { VmProcess } from '../microvm/vm-process.js';
import type { Instance } from '../runtime.js';
import type { ContainerCgroup } from './container-cgroup.js';
import type { Forwarder } from './forwarder.js';
import { deleteContainer, type OciRuntime } from './oci-cli.js';

/** SIGTERM reaches the container's first process; SIGKILL follows after this long. */
const STOP_GRACE_MS = 1_000;
/** How long the runtime may take to notice its container is gone before it is killed too. */
const EXIT_WAIT_MS = 5_000;

export interface ContainerParts {
  id: string;
  containerId: string;
  oci: OciRuntime;
  /** The OCI runtime's `run`, in the foreground: it ends when the container ends. */
  process: VmProcess;
  forwarder: Forwarder;
  /** slirp4netns, for a function granted the network. */
  outbound?: VmProcess;
  cgroup: ContainerCgroup;
  bundle: string;
  pidFile: string;
  port: number;
  memoryMiB: number;
  maxResponseBytes: number;
  /** Runs once, after everything is released (the rootfs hold). */
  released(): void;
}

const SIGTERM_BIT = 1n << 14n;

/** Whether `pid` has a SIGTERM handler (its SigCgt mask in /proc). */
async function handlesSigterm(pid: number): Promise<boolean> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const mask = /^SigCgt:\s+([0-9a-f]+)$/m.exec(status)?.[1];
  return mask !== undefined && (BigInt(`0x${mask}`) & SIGTERM_BIT) !== 0n;
}

export class ContainerInstance implements Instance {
  readonly id: string;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256 });
  private ending = false;
  private oomSeen = 0;
  private readonly exitListeners: ((reason: string) => void)[] = [];
  /** Resolves once the container is gone and everything it held is released. */
  readonly gone: Promise<void>;

  constructor(private readonly parts: ContainerParts) {
    this.id = parts.id;
    this.gone = parts.process.exited.then((how) => this.cleanUp(how));
  }

  private async cleanUp(how: string): Promise<void> {
    const p = this.parts;
    this.agent.destroy();
    // A SIGKILL (exit 137) Tern did not send, in a cgroup that hit its limit, is the OOM killer's.
    const killed = how === 'exit code 137' || how === 'signal SIGKILL';
    const oom = (await p.cgroup.oomKills()) > this.oomSeen || (killed && !this.ending && (await p.cgroup.hitLimit()));
    await p.forwarder.process.kill();
    await p.outbound?.kill();
    // A runtime killed by signal had no chance to delete its container.
    if (how.startsWith('signal')) await deleteContainer(p.oci, p.containerId).catch(() => undefined);
    await p.cgroup.remove().catch(() => undefined);
    await rm(p.bundle, { recursive: true, force: true });
    p.released();
    if (this.ending) return;
    const last = p.process.stderrSummary();
    const reason = oom
      ? `out of memory (limit ${p.memoryMiB} MiB)`
      : `the container exited (${how})${last ? `: ${last}` : ''}`;
    for (const listener of this.exitListeners) listener(reason);
  }

  /** The container's first process, as the host sees it (for tests and kill). */
  async initPid(): Promise<number | undefined> {
    const text = await readFile(this.parts.pidFile, 'utf8').catch(() => '');
    const pid = Number(text.trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  }

  async call(inv: Invocation, signal: AbortSignal): Promise<Response> {
    if (this.parts.process.hasExited) throw new TernError('function_crashed', 'the container has exited');
    const target = {
      host: 'localhost',
      port: this.parts.port,
      socketPath: this.parts.forwarder.socket,
      agent: this.agent,
    };
    try {
      const response = await proxyCall(target, inv, signal, this.parts.maxResponseBytes, {
        explain: (e) => this.explain(e),
      });
      await this.checkMemory();
      return response;
    } catch (e) {
      await this.checkMemory();
      throw e;
    }
  }

  /** A process of the container killed by the OOM killer during the call (the server may live on). */
  private async checkMemory(): Promise<void> {
    const kills = await this.parts.cgroup.oomKills();
    if (kills > this.oomSeen) {
      this.oomSeen = kills;
      throw new TernError('memory_exceeded', `out of memory (limit ${this.parts.memoryMiB} MiB)`);
    }
  }

  private explain(e: Error): TernError {
    if (this.parts.process.hasExited) return new TernError('function_crashed', 'the container exited during the call');
    const code = (e as NodeJS.ErrnoException).code ?? e.message;
    return new TernError(
      'function_crashed',
      `the container's HTTP server on port ${this.parts.port} did not answer (${code})`,
    );
  }

  private async signalAll(sig: NodeJS.Signals, only?: number): Promise<void> {
    const pids = only !== undefined ? [only] : await this.parts.cgroup.pids();
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // Gone already.
      }
    }
  }

  async stop(): Promise<void> {
    if (this.parts.process.hasExited) return this.gone;
    this.ending = true;
    const init = await this.initPid();
    // The first process of a pid namespace ignores SIGTERM unless it handles it: then waiting is in vain.
    if (init !== undefined && (await handlesSigterm(init)) && (await this.parts.cgroup.pids()).includes(init)) {
      await this.signalAll('SIGTERM', init);
      const timer = new Promise<'late'>((r) => setTimeout(() => r('late'), STOP_GRACE_MS).unref());
      if ((await Promise.race([this.parts.process.exited, timer])) !== 'late') return this.gone;
    }
    return this.kill();
  }

  async kill(): Promise<void> {
    this.ending = true;
    if (!this.parts.process.hasExited) {
      await this.signalAll('SIGKILL');
      const timer = new Promise<'late'>((r) => setTimeout(() => r('late'), EXIT_WAIT_MS).unref());
      if ((await Promise.race([this.parts.process.exited, timer])) === 'late') await this.parts.process.kill();
    }
    await this.gone;
  }

  onExit(listener: (reason: string) => void): void {
    this.exitListeners.push(listener);
  }
}
