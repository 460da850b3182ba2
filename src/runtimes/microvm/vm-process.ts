/**
 * One hypervisor process: spawned in its own process group (so a kill reaches anything it
 * starts), its console and stderr logged line by line, its exit observed once.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { LineSplitter } from '../../core/lines.js';
import { withPdeathsig } from './pdeathsig.js';

export interface VmProcessOptions {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Each console (stdout) line and stderr line, as it comes. */
  onLine(line: string, stream: 'stdout' | 'stderr'): void;
}

/** How many stderr lines to keep for error messages. */
const STDERR_KEPT = 8;

export class VmProcess {
  readonly pid: number;
  /** Resolves with a description of the exit ("exit code 1", "signal SIGKILL"). */
  readonly exited: Promise<string>;
  private exitedFlag = false;
  private readonly stderrTail: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    onLine: VmProcessOptions['onLine'],
  ) {
    this.pid = child.pid!;
    const out = new LineSplitter((line) => onLine(line, 'stdout'));
    const err = new LineSplitter((line) => {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_KEPT) this.stderrTail.shift();
      onLine(line, 'stderr');
    });
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.on('data', (c: Buffer) => err.push(c));
    this.exited = new Promise((resolveExit) => {
      child.once('close', (code, signal) => {
        out.end();
        err.end();
        this.exitedFlag = true;
        resolveExit(signal ? `signal ${signal}` : `exit code ${code ?? 'unknown'}`);
      });
    });
  }

  static async spawn(o: VmProcessOptions): Promise<VmProcess> {
    const { command, args } = await withPdeathsig(o.command, o.args);
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: o.env ?? process.env,
      cwd: o.cwd,
    });
    await new Promise<void>((resolveSpawn, reject) => {
      child.once('spawn', () => resolveSpawn());
      child.once('error', (e) => reject(new Error(`cannot run ${o.command}: ${e.message}`)));
    });
    return new VmProcess(child, o.onLine);
  }

  get hasExited(): boolean {
    return this.exitedFlag;
  }

  /** The last stderr lines, joined (for error messages). */
  stderrSummary(): string {
    return this.stderrTail.filter((l) => l.trim() !== '').join(' | ');
  }

  /** Send a signal to the whole process group; a group already gone is fine. */
  signal(sig: NodeJS.Signals): void {
    if (this.exitedFlag) return;
    try {
      process.kill(-this.pid, sig);
    } catch {
      try {
        this.child.kill(sig);
      } catch {
        // Gone already.
      }
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  async terminate(graceMs: number): Promise<void> {
    if (this.exitedFlag) return;
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.signal('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  async kill(): Promise<void> {
    this.signal('SIGKILL');
    await this.exited;
  }
}
