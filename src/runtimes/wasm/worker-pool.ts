/**
 * The node's pool of wasm worker threads, shared by every wasm function. A worker runs one call
 * at a time; a call takes an idle worker or waits for one (bounded queue). A worker stuck past a
 * call's deadline is terminated and replaced on demand: the guest cannot be interrupted any other way.
 * One function holds at most a share of the workers; a worker whose guest is blocked in a `tern`
 * import does not count, and the pool may add workers for it (a chain of calls needs one per level).
 * Nor does a call that has run long wait out the others: while every worker is held by a call older
 * than LONG_CALL_MS, a caller of another function gets a worker of its own (bounded), so a pool of
 * one worker, spinning, still answers everything else within milliseconds.
 * The call's round trip through one worker's shared memory is in pooled-worker.ts.
 */
import type { Logger } from 'pino';
import { TernError } from '../../core/errors.js';
import { PooledWorker, type CallInput, type OutputLimits, type Program, type RawOutcome } from './pooled-worker.js';
import { wasm } from './wasm-api.js';
import { PING_PROGRAM } from './protocol.js';

export interface PoolOptions {
  size: number;
  /** Longest the main thread spins waiting for a short call, µs (0: never spin). */
  spinUs: number;
  /** How long an idle worker spins for its next request before it parks, µs (0: park at once). */
  workerSpinUs: number;
  /** Calls waiting for a worker before new ones are refused. */
  maxQueue: number;
  limits: OutputLimits;
  logger: Logger;
  /** Workers the pool may add while others are blocked in a `tern` import (a lock, a chained call). */
  maxExtraWorkers?: number;
}

/** Default bound on workers added for blocked ones: a chain of wasm calls needs one per level. */
const DEFAULT_MAX_EXTRA_WORKERS = 32;
/** A call running longer than this no longer makes callers of other functions wait for it. */
export const LONG_CALL_MS = 50;
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
  /** Workers added beside long calls; they count like blocked ones until those calls end. */
  private longExtra = 0;
  private trimTimer: NodeJS.Timeout | undefined;
  private longTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: PoolOptions) {}

  /** Closed (node shutdown): no call runs any more, on a worker or inline. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Workers allowed now: the pool's size, plus one per blocked worker or long call (bounded). */
  private capacity(): number {
    const extra = this.blocked + this.longExtra;
    return this.options.size + Math.min(extra, this.options.maxExtraWorkers ?? DEFAULT_MAX_EXTRA_WORKERS);
  }

  /** Whether some waiter may take a worker now (its function is under its share). */
  private servableWaiter(): boolean {
    return this.waiters.some((x) => (this.held.get(x.program) ?? 0) < this.perProgram);
  }

  /** Running calls (blocked ones aside) older than LONG_CALL_MS, and when the youngest other began. */
  private longCalls(now: number): { long: number; youngest: number } {
    let youngest = -Infinity;
    let long = 0;
    for (const w of this.workers) {
      if (!w.charge || w.charge.blocked) continue;
      if (now - w.charge.since >= LONG_CALL_MS) long++;
      else youngest = Math.max(youngest, w.charge.since);
    }
    return { long, youngest };
  }

  /**
   * While callers wait and every worker runs a call older than LONG_CALL_MS, add one worker per
   * long call (capacity() bounds it): the guests cannot be paused, but the OS shares the cores.
   * Checked again when the youngest busy call turns long.
   */
  private watchLongCalls(): void {
    if (this.longTimer !== undefined || this.closed || !this.servableWaiter()) return;
    const now = performance.now();
    const { long, youngest } = this.longCalls(now);
    if (long > this.longExtra) {
      this.longExtra = long;
      if (this.idle.length === 0 && this.starting === 0 && this.workers.size < this.capacity()) this.spawn(true);
    }
    if (youngest > -Infinity) {
      this.longTimer = setTimeout(
        () => {
          this.longTimer = undefined;
          this.watchLongCalls();
        },
        youngest + LONG_CALL_MS - now,
      );
      this.longTimer.unref();
    }
  }

  /** A call ended: long calls now leave fewer workers to add. */
  private recountLongCalls(): void {
    if (this.longExtra === 0) return;
    this.longExtra = Math.min(this.longExtra, this.longCalls(performance.now()).long);
    if (this.workers.size > this.capacity()) this.scheduleTrim();
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
    w.charge = { program, blocked: false, since: performance.now() };
    this.hold(program, 1);
    return w;
  }

  private discharge(w: PooledWorker): void {
    if (w.charge && !w.charge.blocked) this.hold(w.charge.program, -1);
    w.charge = undefined;
    this.recountLongCalls();
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
    // The call that just started may turn long while the others still wait.
    if (this.waiters.length > 0) this.watchLongCalls();
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
      // Calls already running long must not make this one wait out their timeouts.
      this.watchLongCalls();
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
    if (this.longTimer !== undefined) clearTimeout(this.longTimer);
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
