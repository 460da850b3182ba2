/**
 * The node's pool of wasm worker threads, shared by every wasm function. A worker runs one call
 * at a time; a call takes an idle worker or waits for one (bounded queue). A worker stuck past a
 * call's deadline is terminated and replaced on demand: the guest cannot be interrupted any other way.
 *
 * The round trip: write the request into the worker's shared buffer, bump REQ_SEQ, notify, and
 * wait on RESP_SEQ with Atomics.waitAsync (~10 µs there and back, against ~45 µs for postMessage).
 * Before that the main thread may spin briefly on RESP_SEQ (~2 µs round trips when a core is free);
 * not for modules whose recent calls ran longer than the budget, and not while spins keep coming
 * back empty (SpinGovernor), so an overloaded machine is not made worse.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import type { Logger } from 'pino';
import { TernError } from '../../core/errors.js';
import {
  HOST_PENDING,
  HOST_SERVING,
  hostBufferSizeFor,
  INITIAL_HOST_BYTES,
  readRequest,
  replySize,
  TERN_ERR,
  writeReply,
  type HostReply,
  type HostRequest,
} from './host-wire.js';
import type { HostHooks, HostSession } from './host-session.js';
import type { InlineProgram } from './inline.js';
import { SpinGovernor } from './spin.js';
import { wasm } from './wasm-api.js';
import {
  bufferSizeFor,
  CTRL,
  PING_PROGRAM,
  CTRL_BYTES,
  INITIAL_DATA_BYTES,
  REQ,
  RESP,
  type FromWorker,
  type OutcomeKind,
  type ProgramMessage,
  type ToWorker,
  type WorkerInit,
} from './protocol.js';

export const WORKER_URL = new URL('./worker.js', import.meta.url);

/** A prepared module as the pool sees it. */
export interface Program {
  id: number;
  message: Omit<ProgramMessage, 'type' | 'id'>;
  /** Recent run time of a call, µs (exponentially weighted); decides whether to spin. */
  recentRunUs: number;
  /** The module imports `tern`: its calls get a host session. */
  usesHost?: boolean;
  /** Its preemptible variant, for calls run on the calling thread (inline.ts). */
  inline?: InlineProgram;
}

export interface CallInput {
  env: Buffer;
  envCount: number;
  body: Buffer;
  /** Folder to preopen read-only at "/", or "" for no filesystem. */
  root: string;
  /** For modules importing `tern`: serves their host requests (state, chaining). */
  host?: { session: HostSession; log: (line: string) => void };
}

export type RawOutcome =
  | {
      kind: OutcomeKind;
      exitCode: number;
      stdout: Buffer;
      stderr: Buffer;
      stderrDropped: number;
      message: string;
      runUs: number;
      memoryBytes: number;
    }
  | { kind: 'aborted'; reason: unknown }
  | { kind: 'died'; message: string };

export interface PoolOptions {
  size: number;
  /** Longest the main thread spins waiting for a short call, µs (0: never spin). */
  spinUs: number;
  /** How long an idle worker spins for its next request before it parks, µs (0: park at once). */
  workerSpinUs: number;
  /** Calls waiting for a worker before new ones are refused. */
  maxQueue: number;
  limits: { stdout: number; stderr: number };
  logger: Logger;
  /** Workers the pool may add while others are blocked in a `tern` import (a lock, a chained call). */
  maxExtraWorkers?: number;
}

/** Default bound on workers added for blocked ones: a chain of wasm calls needs one per level. */
const DEFAULT_MAX_EXTRA_WORKERS = 32;
/** Workers beyond the pool's size that stay idle this long are ended. */
const TRIM_AFTER_MS = 30_000;

const EMPTY = Buffer.alloc(0);
/** Never sent to a worker: id 0 makes it answer without running anything. */
const PING: Program = {
  id: PING_PROGRAM,
  message: {
    module: new wasm.Module(Uint8Array.of(0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00)),
    args: [],
    capPages: 0,
    instrumented: false,
  },
  recentRunUs: 0,
};

type WaitAsync = (
  typedArray: Int32Array,
  index: number,
  value: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

class PooledWorker {
  /** Calls in flight on all workers. Spinning blocks the event loop, so only a lone call may spin. */
  private static inFlight = 0;
  readonly worker: Worker;
  readonly ctrl: Int32Array;
  private data: SharedArrayBuffer;
  /** The `tern` imports' host buffer (host-wire.ts). */
  private host: SharedArrayBuffer;
  private readonly port: MessagePort;
  private seq = 0;
  private readonly spinner: SpinGovernor;
  readonly programs = new Set<number>();
  online = false;
  /** Set once the worker is gone or going: why. */
  dead: string | undefined;
  /** Set when the pool terminated it on purpose (abort, kill, close). */
  private abortReason: unknown;
  /** The program whose share this worker counts against while it runs a call (see WorkerPool.held). */
  charge: { program: number; blocked: boolean } | undefined;

  constructor(
    limits: PoolOptions['limits'],
    mainSpinUs: number,
    spinUs: number,
    /** +1 when a guest on this worker starts waiting in a slow `tern` import, -1 when it stops. */
    private readonly blockedChanged: (delta: number) => void,
  ) {
    this.spinner = new SpinGovernor(mainSpinUs);
    const ctrl = new SharedArrayBuffer(CTRL_BYTES);
    this.ctrl = new Int32Array(ctrl);
    this.data = new SharedArrayBuffer(INITIAL_DATA_BYTES);
    this.host = new SharedArrayBuffer(INITIAL_HOST_BYTES);
    const channel = new MessageChannel();
    this.port = channel.port1;
    const init: WorkerInit = { ctrl, data: this.data, host: this.host, port: channel.port2, limits, spinUs };
    this.worker = new Worker(WORKER_URL, {
      workerData: init,
      transferList: [channel.port2],
      // The JS heap of a worker holds only per-call buffers; wasm memory is capped by the module rewrite.
      resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    this.worker.unref();
  }

  /** Mark dead and wake any waiter (the waitAsync on RESP_SEQ) so it sees it. */
  markDead(reason: string): void {
    if (this.dead !== undefined) return;
    this.dead = reason;
    this.port.close();
    Atomics.store(this.ctrl, CTRL.RESP_SEQ, -1);
    Atomics.notify(this.ctrl, CTRL.RESP_SEQ);
  }

  terminate(reason: unknown, why: string): void {
    if (this.dead !== undefined) return;
    this.abortReason = reason;
    this.markDead(why);
    void this.worker.terminate();
  }

  private post(message: ToWorker): void {
    this.port.postMessage(message);
    Atomics.store(this.ctrl, CTRL.REQ_MESSAGES, 1);
  }

  forget(id: number): void {
    if (this.programs.delete(id) && this.dead === undefined) this.post({ type: 'forget', id });
  }

  /** `waiting` is called before the call first yields to the event loop. */
  async call(program: Program, input: CallInput, waiting: () => void): Promise<RawOutcome> {
    if (program.id !== PING_PROGRAM && !this.programs.has(program.id)) {
      this.post({ type: 'program', id: program.id, ...program.message });
      this.programs.add(program.id);
    }
    const root = input.root ? Buffer.from(input.root) : undefined;
    const reqLen = REQ.HEADER + input.env.length + input.body.length + (root?.length ?? 0);
    if (reqLen > this.data.byteLength) {
      this.data = new SharedArrayBuffer(bufferSizeFor(reqLen));
      this.post({ type: 'buffer', data: this.data });
    }
    const bytes = new Uint8Array(this.data);
    const view = new DataView(this.data);
    view.setUint32(REQ.MODULE, program.id, true);
    view.setUint32(REQ.ENV_COUNT, input.envCount, true);
    view.setUint32(REQ.ENV_LEN, input.env.length, true);
    view.setUint32(REQ.BODY_LEN, input.body.length, true);
    view.setUint32(REQ.ROOT_LEN, root?.length ?? 0, true);
    bytes.set(input.env, REQ.HEADER);
    bytes.set(input.body, REQ.HEADER + input.env.length);
    if (root) bytes.set(root, REQ.HEADER + input.env.length + input.body.length);

    const seq = ++this.seq;
    Atomics.store(this.ctrl, CTRL.REQ_LEN, reqLen);
    this.worker.ref();
    PooledWorker.inFlight += 1;
    try {
      Atomics.store(this.ctrl, CTRL.REQ_SEQ, seq);
      Atomics.notify(this.ctrl, CTRL.REQ_SEQ);
      // Only for modules whose calls usually end within the budget (a long call would just burn it),
      // and only when no other call waits on the event loop this spin would block.
      if (PooledWorker.inFlight === 1 && program.recentRunUs <= this.spinner.budgetUs && this.spinner.allowed()) {
        this.spinner.spin(() => {
          const at = Atomics.load(this.ctrl, CTRL.RESP_SEQ);
          return at === seq || at === HOST_PENDING || this.dead !== undefined;
        });
      }
      for (;;) {
        if (this.dead === undefined && Atomics.load(this.ctrl, CTRL.RESP_SEQ) !== seq) waiting();
        if (this.dead !== undefined)
          return this.abortReason !== undefined
            ? { kind: 'aborted', reason: this.abortReason }
            : { kind: 'died', message: this.dead };
        const current = Atomics.load(this.ctrl, CTRL.RESP_SEQ);
        if (current === seq) return this.readResponse(program);
        if (current === HOST_PENDING) {
          // The guest is blocked in a `tern` import. A read or write is answered right here, and
          // the guest's next request (or its end) usually follows within a spin; anything that
          // waits is served without awaiting it here, so an abort still ends this call at once.
          Atomics.store(this.ctrl, CTRL.RESP_SEQ, HOST_SERVING);
          if (this.serveHostNow(input.host)) {
            if (this.spinner.allowed()) {
              this.spinner.spin(() => {
                const at = Atomics.load(this.ctrl, CTRL.RESP_SEQ);
                return at === seq || at === HOST_PENDING || this.dead !== undefined;
              });
            }
          } else void this.serveHost(input.host);
          continue;
        }
        const waited = waitAsync(this.ctrl, CTRL.RESP_SEQ, current);
        if (waited.async) await waited.value;
      }
    } finally {
      PooledWorker.inFlight -= 1;
      if (this.dead === undefined) this.worker.unref();
    }
  }

  /** Take what the worker posted: a bigger data buffer (a response), a bigger host buffer (a request). */
  private drainPort(): void {
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      const msg = m.message as FromWorker;
      if (msg.type === 'buffer') this.data = msg.data;
      else if (msg.type === 'host-buffer') this.host = msg.data;
    }
  }

  private hostHooks(host: NonNullable<CallInput['host']>): HostHooks {
    return {
      postSegment: (key, segment) => {
        if (this.dead !== undefined) return;
        this.port.postMessage({ type: 'segment', key, data: segment });
        Atomics.store(this.ctrl, CTRL.HOST_MESSAGES, 1);
      },
      blocked: (on) => this.blockedChanged(on ? 1 : -1),
      log: host.log,
    };
  }

  private hostRequest(): { seq: number; request: HostRequest } {
    const seq = Atomics.load(this.ctrl, CTRL.HOST_SEQ);
    if (Atomics.exchange(this.ctrl, CTRL.HOST_FROM_WORKER, 0) === 1) this.drainPort();
    return { seq, request: readRequest(this.host) };
  }

  /** A host request that needs no waiting, answered now; false when it must wait (serveHost). */
  private serveHostNow(host: CallInput['host']): boolean {
    if (!host) return false;
    const { seq, request } = this.hostRequest();
    const reply = host.session.serveNow(request, this.hostHooks(host));
    if (!reply) return false;
    this.replyHost(seq, reply);
    return true;
  }

  /** One host request of the guest: run it, write the reply, wake the worker. */
  private async serveHost(host: CallInput['host']): Promise<void> {
    let seq = Atomics.load(this.ctrl, CTRL.HOST_SEQ);
    let reply: HostReply;
    try {
      const taken = this.hostRequest();
      seq = taken.seq;
      reply = host
        ? await host.session.serve(taken.request, this.hostHooks(host))
        : { result: TERN_ERR.UNAVAILABLE, data: Buffer.from('host services are not available to this call') };
    } catch (e) {
      reply = {
        result: TERN_ERR.FAILED,
        data: Buffer.from(`host error: ${e instanceof Error ? e.message : String(e)}`),
      };
    }
    this.replyHost(seq, reply);
  }

  private replyHost(seq: number, reply: HostReply): void {
    if (this.dead !== undefined) return;
    const size = replySize(reply);
    if (size > this.host.byteLength) {
      this.host = new SharedArrayBuffer(hostBufferSizeFor(size));
      this.port.postMessage({ type: 'host-buffer', data: this.host });
      Atomics.store(this.ctrl, CTRL.HOST_MESSAGES, 1);
    }
    writeReply(this.host, reply);
    Atomics.store(this.ctrl, CTRL.HOST_DONE, seq);
    Atomics.notify(this.ctrl, CTRL.HOST_DONE);
  }

  private readResponse(program: Program): RawOutcome {
    if (Atomics.load(this.ctrl, CTRL.RESP_NEW_BUFFER) === 1) {
      Atomics.store(this.ctrl, CTRL.RESP_NEW_BUFFER, 0);
      this.drainPort();
    }
    const view = new DataView(this.data);
    const stdoutLen = view.getUint32(RESP.STDOUT_LEN, true);
    const stderrLen = view.getUint32(RESP.STDERR_LEN, true);
    const messageLen = view.getUint32(RESP.MESSAGE_LEN, true);
    const runUs = view.getFloat64(RESP.RUN_US, true);
    program.recentRunUs = program.recentRunUs * 0.8 + runUs * 0.2;
    const at = RESP.HEADER;
    const copy = (start: number, len: number) => Buffer.from(new Uint8Array(this.data, start, len));
    return {
      kind: view.getUint32(RESP.KIND, true) as OutcomeKind,
      exitCode: view.getInt32(RESP.EXIT_CODE, true),
      stdout: copy(at, stdoutLen),
      stderr: copy(at + stdoutLen, stderrLen),
      stderrDropped: view.getUint32(RESP.STDERR_DROPPED, true),
      message: copy(at + stdoutLen + stderrLen, messageLen).toString('utf8'),
      runUs,
      memoryBytes: view.getFloat64(RESP.MEMORY_BYTES, true),
    };
  }
}

interface Waiter {
  resolve(w: PooledWorker): void;
  reject(e: unknown): void;
  /** The program it runs (each holds at most `perProgram` workers at once). */
  program: number;
}

/** What a cancelled wait rejects with (the reason itself is in the CallControl). */
const CANCELLED = Symbol('cancelled');

/**
 * Stops one call from outside, whether it waits for a worker or runs on one: the caller (the
 * instance's kill()) calls cancel(); the pool hooks in what cancelling means at each stage.
 */
export class CallControl {
  cancelled: { reason: unknown } | undefined;
  private hook: ((reason: unknown) => void) | undefined;

  cancel(reason: unknown): void {
    if (this.cancelled) return;
    this.cancelled = { reason };
    this.hook?.(reason);
  }

  onCancel(hook: ((reason: unknown) => void) | undefined): void {
    this.hook = hook;
  }
}

export class WorkerPool {
  private readonly workers = new Set<PooledWorker>();
  private idle: PooledWorker[] = [];
  private readonly waiters: Waiter[] = [];
  /** Workers each program holds now: one function's long calls never take every worker. */
  private readonly held = new Map<number, number>();
  private closed = false;
  private starting = 0;
  /** Guests waiting in a slow `tern` import: their workers hold no CPU, so others may be added. */
  private blocked = 0;
  private trimTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: PoolOptions) {}

  /** Closed (node shutdown): no call runs any more, on a worker or inline. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Workers allowed now: the pool's size, plus one per blocked worker (bounded). */
  private capacity(): number {
    return this.options.size + Math.min(this.blocked, this.options.maxExtraWorkers ?? DEFAULT_MAX_EXTRA_WORKERS);
  }

  private blockedChanged(delta: number): void {
    this.blocked += delta;
    if (delta > 0) {
      // A call waiting for a worker may be the very child the blocked guest waits for.
      if (!this.closed && this.waiters.length > this.starting && this.workers.size < this.capacity()) this.spawn(true);
    } else if (this.workers.size > this.capacity()) this.scheduleTrim();
  }

  /** End idle workers beyond capacity once they have stayed idle a while. */
  private scheduleTrim(): void {
    if (this.trimTimer !== undefined || this.closed) return;
    this.trimTimer = setTimeout(() => {
      this.trimTimer = undefined;
      while (this.workers.size > this.capacity() && this.idle.length > 0) {
        const w = this.idle.shift()!;
        this.workers.delete(w);
        w.terminate(new TernError('unavailable', 'surplus wasm worker ended'), 'terminated: surplus worker');
      }
      if (this.workers.size > this.capacity()) this.scheduleTrim();
    }, TRIM_AFTER_MS);
    this.trimTimer.unref();
  }

  get size(): number {
    return this.workers.size;
  }

  /** Start a worker ahead of the first call (a worker takes tens of ms to boot). */
  prewarm(): void {
    if (!this.closed && this.workers.size === 0) this.spawn(false);
  }

  /** `forCall`: a call waits for it, so it must keep the process alive until it is online. */
  private spawn(forCall: boolean): void {
    const w: PooledWorker = new PooledWorker(
      this.options.limits,
      this.options.spinUs,
      this.options.workerSpinUs,
      (delta) => {
        this.chargeBlocked(w, delta > 0);
        this.blockedChanged(delta);
      },
    );
    if (forCall) w.worker.ref();
    this.workers.add(w);
    this.starting++;
    w.worker.once('online', () => {
      this.starting--;
      w.online = true;
      w.worker.unref();
      this.release(w);
    });
    w.worker.on('error', (e) => {
      this.options.logger.error({ err: e }, 'wasm worker failed');
      if (!w.online) this.failWaiters(new TernError('unavailable', `wasm worker could not start: ${e.message}`));
    });
    w.worker.once('exit', (code) => {
      if (!w.online) this.starting--;
      w.markDead(`wasm worker exited (code ${code})`);
      this.workers.delete(w);
      this.idle = this.idle.filter((x) => x !== w);
      // Calls waiting for a worker need a live one to come back.
      if (
        !this.closed &&
        this.waiters.length > 0 &&
        this.starting === 0 &&
        this.idle.length === 0 &&
        this.workers.size < this.capacity()
      )
        this.spawn(true);
    });
  }

  private failWaiters(e: unknown): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(e);
  }

  /**
   * Workers one program may hold at once: half the pool (rounded up). A function whose calls spin
   * leaves the other half to the others (short calls do not need workers at all: inline.ts).
   */
  private get perProgram(): number {
    return Math.max(1, Math.ceil(this.options.size / 2));
  }

  private hold(program: number, delta: number): void {
    const n = (this.held.get(program) ?? 0) + delta;
    if (n <= 0) this.held.delete(program);
    else this.held.set(program, n);
  }

  private charge(w: PooledWorker, program: number): PooledWorker {
    w.charge = { program, blocked: false };
    this.hold(program, 1);
    return w;
  }

  private discharge(w: PooledWorker): void {
    if (w.charge && !w.charge.blocked) this.hold(w.charge.program, -1);
    w.charge = undefined;
  }

  /**
   * A guest blocked in a `tern` import (a chained call, a lock) uses no CPU, so it stops counting
   * against its program's share: a function that calls itself must get a worker for its child.
   */
  private chargeBlocked(w: PooledWorker, blocked: boolean): void {
    if (!w.charge || w.charge.blocked === blocked) return;
    w.charge.blocked = blocked;
    this.hold(w.charge.program, blocked ? -1 : 1);
    if (blocked && this.idle.length > 0) this.release(this.idle.pop()!);
  }

  /** A free worker goes to the oldest waiter whose program is under its share, else to the idle list. */
  private release(w: PooledWorker): void {
    if (w.dead !== undefined || this.closed) return;
    const i = this.waiters.findIndex((x) => (this.held.get(x.program) ?? 0) < this.perProgram);
    if (i === -1) {
      this.idle.push(w);
      return;
    }
    const [waiter] = this.waiters.splice(i, 1);
    waiter!.resolve(this.charge(w, waiter!.program));
  }

  /** An idle worker at once, or a promise of the next free one (`waiting` is called first then). */
  private acquire(program: number, control: CallControl, waiting: () => void): PooledWorker | Promise<PooledWorker> {
    if (this.closed) throw new TernError('unavailable', 'the wasm runtime is shut down');
    if ((this.held.get(program) ?? 0) < this.perProgram) {
      const w = this.idle.pop();
      if (w) return this.charge(w, program);
    }
    if (this.waiters.length >= this.options.maxQueue)
      throw new TernError(
        'no_capacity',
        `all ${this.options.size} wasm workers are busy and ${this.waiters.length} calls wait`,
      );
    // A new worker only when nothing already booting will do: a busy one usually frees up first.
    if (this.workers.size < this.capacity() && this.starting <= this.waiters.length) this.spawn(true);
    // A booting worker (a prewarmed one too) is what this call waits for: keep the process alive for it.
    for (const booting of this.workers) if (!booting.online) booting.worker.ref();
    return new Promise<PooledWorker>((resolve, reject) => {
      const waiter: Waiter = { resolve, reject, program };
      this.waiters.push(waiter);
      control.onCancel(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(CANCELLED);
      });
      // Last: it may cancel at once (an already aborted signal), which the hook above handles.
      waiting();
    });
  }

  /**
   * Run one call of `program`. An abort of `signal`, or `control.cancel()`, takes it out of the
   * queue or terminates the worker running it; the outcome is then 'aborted' with the reason.
   *
   * The abort listener is attached only once the call has to wait (queue or event loop): a call
   * answered within the spin never yields, so nothing can abort it meanwhile, and listening on a
   * fresh AbortSignal costs Node ~7 µs.
   */
  async run(program: Program, input: CallInput, signal: AbortSignal, control = new CallControl()): Promise<RawOutcome> {
    const onAbort = () => control.cancel(signal.reason);
    let listening = false;
    const listen = () => {
      if (listening) return;
      listening = true;
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    };
    // A function, not a field test: TypeScript would keep the field narrowed across the awaits.
    const stopped = (): RawOutcome | undefined =>
      control.cancelled ? { kind: 'aborted', reason: control.cancelled.reason } : undefined;
    if (signal.aborted) onAbort();
    try {
      const before = stopped();
      if (before) return before;
      let w: PooledWorker;
      try {
        w = await this.acquire(program.id, control, listen);
      } catch (e) {
        const outcome = e === CANCELLED ? stopped() : undefined;
        if (outcome) return outcome;
        throw e;
      }
      try {
        if (signal.aborted) onAbort();
        const early = stopped();
        if (early) return early;
        control.onCancel((reason) => w.terminate(reason, 'terminated: call cancelled'));
        return await w.call(program, input, listen);
      } finally {
        control.onCancel(undefined);
        this.discharge(w);
        this.release(w);
      }
    } finally {
      if (listening) signal.removeEventListener('abort', onAbort);
    }
  }

  /** A round trip to a worker that runs no guest: the floor under every call (benchmarks, health). */
  ping(signal: AbortSignal): Promise<RawOutcome> {
    return this.run(PING, { env: EMPTY, envCount: 0, body: EMPTY, root: '' }, signal);
  }

  /** Drop a module from every worker (its version is gone). */
  forget(programId: number): void {
    for (const w of this.workers) w.forget(programId);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.trimTimer !== undefined) clearTimeout(this.trimTimer);
    this.failWaiters(new TernError('unavailable', 'the wasm runtime is shut down'));
    const all = [...this.workers];
    this.idle = [];
    await Promise.all(
      all.map(async (w) => {
        w.terminate(new TernError('unavailable', 'the wasm runtime is shut down'), 'terminated: runtime closed');
        await w.worker.terminate();
      }),
    );
    this.workers.clear();
  }
}
