/**
 * Python zygotes: one sandbox per function version whose interpreter has imported the handler,
 * forking a fresh instance per start (shims/python/tern_zygote.py). A child costs a fork and a
 * private /tmp instead of a bubblewrap sandbox and an interpreter start.
 *
 * The zygote sandbox is an ordinary one (same bwrap plan, uid, no network) except for its seccomp
 * program, which lets a child make its own user and mount namespace for a fresh /tmp; the child
 * then loads the plain program on top. Children live in the zygote's cgroup: moving a process into
 * another cgroup costs two RCU grace periods on this kernel (20-50 ms), more than a sandbox start.
 * So the cgroup is sized for the function's max-instances plus the zygote itself, and children are
 * the OOM killer's first choice (tern_zygote.py raises their oom_score_adj).
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { join } from 'node:path';
import { TernError } from '../../core/errors.js';
import { LineSplitter } from '../../core/lines.js';
import type { DeployedFunction } from '../../registry/registry.js';
import type { InstanceOptions } from '../runtime.js';
import { InstanceCgroup } from './cgroup.js';
import { PYTHON } from './deps.js';
import { describeExit } from './exit-reason.js';
import type { InstanceCgroupView, SandboxProcess } from './instance.js';
import { NATIVE_DIR, type SandboxKit } from './kit.js';
import { spawnIpcLauncher, startSandbox } from './launch.js';
import { encodeFrame } from './protocol.js';
import { bwrapArgs, FN_MOUNT, SHIM_MOUNT, type SandboxPlan } from './sandbox.js';

export const ZYGOTE_SECCOMP_PROGRAM = join(NATIVE_DIR, 'seccomp-zygote.bpf');
/** The zygote's last argument, a slot each child writes its instance id over (tern_zygote.py). */
const NAME_SLOT = '_'.repeat(96);
const MIB = 1024 * 1024;
const START_TIMEOUT_MS = 30_000;
const FORK_TIMEOUT_MS = 10_000;
/** Children per zygote at most, whatever max-instances says (the cgroup is sized by it). */
const MAX_SLOTS = 64;
/** Processes and threads per child (its RLIMIT_NPROC), as PIDS_MAX is per plain sandbox. */
const PIDS_MAX = 64;
const STDERR_TAIL_LINES = 8;
/**
 * A zygote with no instance for this long ends (its budget reservation with it); the next start
 * makes a new one. Without it, a zygote's memory would stay reserved while its function is idle.
 */
const IDLE_MS = 30_000;
/** Children kept forked ahead of need per zygote. */
const SPARES = 2;

export function zygotesBuilt(): boolean {
  return existsSync(ZYGOTE_SECCOMP_PROGRAM);
}

/** A child of a zygote, as an instance sees its process. */
export class ForkedProcess extends EventEmitter implements SandboxProcess {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** Given to an instance (whose streams then read to the end); a spare's are destroyed at exit. */
  claimed = false;

  constructor(
    private readonly zygote: Zygote,
    /** Its pid inside the sandbox's pid namespace. */
    readonly pid: number,
    /** Node's end of the child's shim protocol (its 'close' is the child's). */
    readonly channel: Socket,
    readonly stdout: Socket,
    readonly stderr: Socket,
  ) {
    super();
    stdout.on('error', () => undefined);
    stderr.on('error', () => undefined);
  }

  kill(): boolean {
    this.zygote.killChild(this.pid);
    return true;
  }

  /** Called once by the zygote: `code` as python's waitstatus_to_exitcode (negative: a signal). */
  exited(code: number | null): void {
    if (this.exitCode !== null || this.signalCode !== null) return;
    const signal = code === null ? 'SIGKILL' : code < 0 ? signalName(-code) : null;
    this.exitCode = signal ? null : code;
    this.signalCode = signal;
    if (!this.claimed) for (const s of [this.channel, this.stdout, this.stderr]) s.destroy();
    this.emit('exit', this.exitCode, signal);
    // Like a ChildProcess: 'close' once the output has drained (the channel is the output here).
    const close = () => this.emit('close', this.exitCode, signal);
    if (this.channel.closed) close();
    else this.channel.once('close', close);
  }
}

function signalName(n: number): NodeJS.Signals {
  const found = Object.entries(constants.signals).find(([, v]) => v === n);
  return (found?.[0] ?? 'SIGKILL') as NodeJS.Signals;
}

interface Message {
  t?: unknown;
  id?: unknown;
  pid?: unknown;
  code?: unknown;
  message?: unknown;
  fd?: unknown;
}

export interface Forked {
  process: ForkedProcess;
  channel: Socket;
}

interface PendingFork {
  /** The child's sockets as they come (one per message): channel, stdout, stderr. */
  parts: Map<string, Socket>;
  resolve: (f: Forked) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class Zygote {
  private readonly children = new Map<number, ForkedProcess>();
  private readonly forks = new Map<string, PendingFork>();
  /** Children forked and locked down ahead of need, waiting to be told their instance. */
  private readonly spares: Forked[] = [];
  private sparesComing = 0;
  /** Claimed children still running; at 0 the idle timer runs. */
  private serving = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private forkSeq = 0;
  private dead = false;
  private readyWaiter: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private initError: string | undefined;
  private readonly stderrTail: string[] = [];
  readonly finished: Promise<void>;
  /** What children are given as their cgroup: the zygote's, never removed by them. */
  readonly childCgroup: InstanceCgroupView;

  private constructor(
    readonly id: string,
    private readonly fn: DeployedFunction,
    private readonly child: ChildProcess,
    cgroup: InstanceCgroup,
    log: InstanceOptions['log'],
  ) {
    this.childCgroup = { oomKills: () => cgroup.oomKills(), remove: () => Promise.resolve() };
    child.on('message', (m: unknown, handle: unknown) => this.onMessage(m as Message, handle as Socket | undefined));
    // A send on a channel that just closed reports here; the exit handler below does the rest.
    child.on('error', () => undefined);
    for (const stream of ['stdout', 'stderr'] as const) {
      const splitter = new LineSplitter((line) => {
        if (stream === 'stderr' && this.stderrTail.push(line) > STDERR_TAIL_LINES) this.stderrTail.shift();
        log(line, stream, id, undefined);
      });
      child[stream]!.on('data', (chunk: Buffer) => splitter.push(chunk));
      child[stream]!.on('end', () => splitter.end());
    }
    this.finished = new Promise<void>((resolve) => {
      child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
        this.dead = true;
        for (const c of this.children.values()) c.exited(null);
        this.children.clear();
        const gone = new TernError('function_crashed', `the zygote of "${fn.spec.name}" exited`);
        for (const id of [...this.forks.keys()]) this.settleFork(id)?.reject(gone);
        void this.failStart(code, signal, cgroup)
          .then(() => cgroup.remove())
          .catch(() => undefined)
          .then(resolve);
      });
    });
  }

  /** The zygote ended before it was ready: say why, as a plain instance's start would. */
  private async failStart(code: number | null, signal: NodeJS.Signals | null, cgroup: InstanceCgroup): Promise<void> {
    const waiter = this.readyWaiter;
    this.readyWaiter = undefined;
    if (!waiter) return;
    if (this.initError !== undefined) return waiter.reject(new TernError('function_error', this.initError));
    const reason = describeExit({
      code,
      signal,
      oomKills: await cgroup.oomKills().catch(() => 0),
      memoryMiB: this.fn.spec.memory,
      stderrTail: this.stderrTail,
    });
    waiter.reject(new TernError('function_crashed', `instance of "${this.fn.spec.name}" failed to start: ${reason}`));
  }

  get alive(): boolean {
    return !this.dead;
  }

  /** Start a zygote for `fn` (its stage copy `fnDir`) and wait until it has loaded the handler. */
  static async start(
    kit: SandboxKit,
    fn: DeployedFunction,
    fnDir: string,
    basePlan: SandboxPlan,
    id: string,
    log: InstanceOptions['log'],
  ): Promise<Zygote> {
    const spec = fn.spec;
    // The zygote must fit in one instance's memory; its children get room once it is ready.
    const cgroup = await InstanceCgroup.create(kit.cgroups, `${process.pid}-zygote-${id}`, {
      memoryBytes: spec.memory * MIB,
      pidsMax: PIDS_MAX,
    });
    const launched = spawnIpcLauncher({ bwrap: kit.launch.bwrap, seccomp: ZYGOTE_SECCOMP_PROGRAM }, cgroup.procsFiles);
    const zygote = new Zygote(id, fn, launched.child, cgroup, log);
    const ready = new Promise<void>((resolve, reject) => (zygote.readyWaiter = { resolve, reject }));
    const timer = setTimeout(() => launched.child.kill('SIGKILL'), START_TIMEOUT_MS);
    const plan: SandboxPlan = {
      ...basePlan,
      fnDir,
      command: [
        PYTHON,
        '-I',
        '-B',
        `${SHIM_MOUNT}/python/tern_zygote.py`,
        FN_MOUNT,
        spec.handler,
        spec.name,
        id,
        String(basePlan.tmpBytes),
        String(PIDS_MAX),
        NAME_SLOT,
      ],
    };
    startSandbox(launched, kit.uids.identityOf(spec.name), bwrapArgs(plan));
    try {
      await ready;
      const slots = Math.min(spec.maxInstances, MAX_SLOTS) + 1;
      await cgroup.setLimits({ memoryBytes: spec.memory * MIB * slots, pidsMax: PIDS_MAX * slots });
    } catch (e) {
      await zygote.close();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    zygote.topUp();
    return zygote;
  }

  /**
   * A fresh child for instance `instanceId`: a spare when one is ready (the fork, namespaces and
   * lockdown already paid), else one forked now. The spares are topped up behind it.
   */
  async claim(instanceId: string): Promise<Forked> {
    let forked: Forked | undefined;
    while ((forked = this.spares.shift())) if (forked.process.exitCode === null && !forked.process.signalCode) break;
    this.topUp();
    forked ??= await this.forkOne();
    forked.process.claimed = true;
    this.serving++;
    clearTimeout(this.idleTimer);
    forked.process.once('exit', () => {
      if (--this.serving === 0 && !this.dead) {
        this.idleTimer = setTimeout(() => void this.close(), IDLE_MS);
        this.idleTimer.unref();
      }
    });
    forked.channel.write(Buffer.concat(encodeFrame({ t: 'instance', id: instanceId })));
    return forked;
  }

  private topUp(): void {
    while (!this.dead && this.spares.length + this.sparesComing < SPARES) {
      this.sparesComing++;
      this.forkOne()
        .then((f) => {
          if (this.dead) f.process.kill();
          else this.spares.push(f);
        })
        .catch(() => undefined)
        .finally(() => this.sparesComing--);
    }
  }

  private forkOne(): Promise<Forked> {
    if (this.dead) return Promise.reject(new TernError('unavailable', `the zygote of "${this.fn.spec.name}" is gone`));
    const id = `f${(++this.forkSeq).toString(36)}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settleFork(id)?.reject(new TernError('function_crashed', 'the zygote did not fork in time'));
        this.child.kill('SIGKILL');
      }, FORK_TIMEOUT_MS);
      this.forks.set(id, { parts: new Map(), resolve, reject, timer });
      if (this.child.connected) this.child.send({ t: 'fork', id });
    });
  }

  killChild(pid: number): void {
    if (!this.dead && this.child.connected) this.child.send({ t: 'kill', pid });
  }

  /** End the zygote: its children go with its pid namespace. */
  async close(): Promise<void> {
    clearTimeout(this.idleTimer);
    if (!this.dead) this.child.kill('SIGKILL');
    await this.finished;
  }

  private onForked(id: string, pid: number, fd: string, handle: Socket | undefined): void {
    const pending = this.forks.get(id);
    if (!pending || !handle) {
      handle?.destroy();
      if (pending)
        this.settleFork(id)?.reject(new TernError('function_crashed', 'the zygote forked without a channel'));
      this.killChild(pid);
      return;
    }
    pending.parts.set(fd, handle);
    const [channel, stdout, stderr] = ['channel', 'stdout', 'stderr'].map((k) => pending.parts.get(k));
    if (!channel || !stdout || !stderr) return;
    this.settleFork(id);
    const process = new ForkedProcess(this, pid, channel, stdout, stderr);
    this.children.set(pid, process);
    pending.resolve({ process, channel });
  }

  private settleFork(id: string): PendingFork | undefined {
    const pending = this.forks.get(id);
    if (!pending) return undefined;
    this.forks.delete(id);
    clearTimeout(pending.timer);
    return pending;
  }

  private onMessage(m: Message, handle: Socket | undefined): void {
    if (m === null || typeof m !== 'object') return;
    if (m.t === 'ready') {
      this.readyWaiter?.resolve();
      this.readyWaiter = undefined;
    } else if (m.t === 'init-error') {
      this.initError = `cannot load handler "${this.fn.spec.handler}" of "${this.fn.spec.name}": ${String(m.message).slice(0, 4000)}`;
    } else if (m.t === 'forked' && typeof m.id === 'string' && typeof m.pid === 'number') {
      this.onForked(m.id, m.pid, String(m.fd), handle);
    } else if (m.t === 'exit' && typeof m.pid === 'number') {
      const c = this.children.get(m.pid);
      this.children.delete(m.pid);
      c?.exited(typeof m.code === 'number' ? m.code : null);
    }
  }
}
