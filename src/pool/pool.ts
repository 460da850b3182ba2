/**
 * One function's instances and every lifecycle policy of its spec: reuse and concurrency,
 * single-use, keepalive, min/max instances, timeout, crash handling, the FIFO queue and graceful
 * version updates. Runtimes only start, call and stop; every "when" is decided here.
 *
 * The warm path (an instance with room, nobody queued) is `invoke` -> `takeReady` -> `run`: no
 * timers but the call's timeout, no allocation beyond the call's promise, report and result.
 */
import type { Logger } from 'pino';
import { formatDuration } from '../core/duration.js';
import { asTernError, isTernError, TernError, type ErrorCode } from '../core/errors.js';
import type { CallFinisher } from '../core/host.js';
import type { Invocation } from '../core/invocation.js';
import { emptyReport, ms, type Report } from '../core/report.js';
import { errorResult, type Response, type Result } from '../core/result.js';
import type { InstanceStopReason, Telemetry } from '../core/telemetry.js';
import type { DeployedFunction } from '../registry/registry.js';
import type { FunctionSpec, RuntimeName } from '../registry/spec.js';
import type { FunctionStatus } from '../core/status.js';
import type { Instance, LogSink, Runtime } from '../runtimes/runtime.js';
import type { BudgetMember, EvictionCandidate, MemoryBudget } from './budget.js';
import { WaitQueue } from './queue.js';
import type { Reapable, Reaper } from './reaper.js';
import { Slot } from './slot.js';
import { stopInstance } from './stop.js';

export interface PoolDeps {
  nodeName: string;
  runtimes: (name: RuntimeName) => Runtime | undefined;
  budget: MemoryBudget;
  reaper: Reaper;
  queue: { capacity: number; waitMs: number };
  scratchDir: string;
  telemetry: Telemetry;
  /** Runs once a call has its result, before telemetry observes it. */
  finishCall: CallFinisher;
  logSink: LogSink;
  logger: Logger;
  /** The pool cannot take the call (queue_full, queue_timeout, no_capacity): the scheduler's answer. */
  refused(inv: Invocation, reason: TernError, report: Report): Promise<Result>;
  /** Every instance of these older versions has stopped (their code may be pruned). */
  drained(versions: DeployedFunction[]): void;
}

/** A call's claim on an instance. */
interface Grant {
  slot: Slot;
  /** This call caused the instance's start. */
  cold: boolean;
  initMs: number;
}

interface Waiting {
  inv: Invocation;
  resolve(grant: Grant): void;
  reject(reason: TernError): void;
}

/** Errors after which the instance is not trusted again. 'function_error' (a trap, an exception) is not one. */
const FATAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'function_crashed',
  'memory_exceeded',
  'timeout',
  'internal',
]);
const REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['queue_full', 'queue_timeout', 'no_capacity']);

/** Backoff of min-instances refills after failed starts: 250ms doubling up to 30s. */
const PREWARM_BACKOFF_MS = 250;
const PREWARM_BACKOFF_MAX_MS = 30_000;
/** A start may take this long (or the function's timeout, if longer) before it counts as failed. */
const START_BOUND_MS = 60_000;

type PoolState = 'open' | 'draining' | 'removing' | 'closed';

export class FunctionPool implements BudgetMember, Reapable {
  readonly name: string;
  private current: DeployedFunction;
  private spec: FunctionSpec;
  /** Calls one instance takes at once (1 for single-use). */
  private perInstance: number;
  private state: PoolState = 'open';
  /** Instances not yet stopping: starting, ready, busy, and retired ones finishing their calls. */
  private readonly serving = new Set<Slot>();
  private readonly stopping = new Set<Slot>();
  /** Current-version instances with room for a call; the most recently used last. */
  private readonly ready: Slot[] = [];
  private readonly queue: WaitQueue<Waiting>;
  /** Older versions whose instances still run. */
  private readonly old = new Set<DeployedFunction>();
  private invocations = 0;
  /** Calls inside invoke() (queued, starting or running). */
  private active = 0;
  private reservedMiB = 0;
  /** Moving average of run time, for Retry-After. */
  private avgRunMs = 0;
  private startFailures = 0;
  private prewarmNotBefore = 0;
  private idleWaiters: (() => void)[] = [];
  private emptyWaiters: (() => void)[] = [];
  private kickScheduled = false;

  constructor(
    fn: DeployedFunction,
    private readonly deps: PoolDeps,
  ) {
    this.name = fn.spec.name;
    this.current = fn;
    this.spec = fn.spec;
    this.perInstance = fn.spec.singleUse ? 1 : fn.spec.concurrentRequests;
    this.queue = new WaitQueue<Waiting>(deps.queue.capacity, deps.queue.waitMs, (w) =>
      w.reject(
        new TernError(
          'queue_timeout',
          `no instance of "${this.name}" became free within ${formatDuration(deps.queue.waitMs)}`,
        ),
      ),
    );
    deps.budget.join(this);
    deps.reaper.add(this);
  }

  get version(): DeployedFunction {
    return this.current;
  }

  /** Start min-instances (deploy, node start). */
  prewarm(): void {
    this.ensureMin();
  }

  /** Run one call; always resolves (failures are error results). `onRunning` fires once it has an instance. */
  invoke(inv: Invocation, onRunning?: () => void): Promise<Result> {
    this.active++;
    if (this.queue.length === 0) {
      const slot = this.takeReady();
      if (slot !== undefined) return this.run(inv, slot, false, 0, onRunning);
    }
    return this.invokeSlow(inv, onRunning);
  }

  status(): FunctionStatus {
    let starting = 0;
    let idle = 0;
    let busy = 0;
    for (const s of this.serving) {
      if (s.starting) starting++;
      else if (s.inflight > 0) busy++;
      else idle++;
    }
    return {
      name: this.name,
      instances: { starting, idle, busy, total: starting + idle + busy },
      queued: this.queue.length,
      invocations: this.invocations,
      memoryMiB: this.reservedMiB,
    };
  }

  /** Graceful update: new calls go to `fn`; older instances finish their calls, then stop. */
  update(fn: DeployedFunction): void {
    if (this.state !== 'open') return;
    this.old.add(this.current);
    this.current = fn;
    this.spec = fn.spec;
    this.perInstance = fn.spec.singleUse ? 1 : fn.spec.concurrentRequests;
    for (const s of this.ready) s.inReady = false;
    this.ready.length = 0;
    for (const s of [...this.serving]) if (s.fn !== fn) this.retire(s, 'update');
    this.ensureMin();
    if (this.queue.length !== 0) this.pump();
    this.checkDrained();
  }

  /** Removal: queued calls get 503, running calls finish, then every instance stops. */
  async remove(): Promise<void> {
    if (this.state === 'removing' || this.state === 'closed') return this.whenEmpty();
    this.state = 'removing';
    for (const w of this.queue.drain()) w.reject(new TernError('unavailable', `function "${this.name}" was removed`));
    for (const s of [...this.serving]) this.retire(s, 'removed');
    await this.whenEmpty();
    this.releaseArtefacts([this.current, ...this.old]);
    this.old.clear();
    this.leave();
  }

  /** Node shutdown, step 1: wait until no call is inside the pool, or until `deadline` (performance.now()). */
  drain(deadline: number): Promise<void> {
    if (this.state === 'open') this.state = 'draining';
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadline - performance.now()));
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Node shutdown, step 2: refuse what waits, kill what still runs, stop the rest. */
  shutdown(): Promise<void> {
    this.state = 'closed';
    for (const w of this.queue.drain()) w.reject(new TernError('unavailable', 'the node is shutting down'));
    for (const s of [...this.serving]) {
      if (s.starting || s.inflight > 0 || s.claims > 0) this.kill(s, 'shutdown', 'still busy at shutdown');
      else this.retire(s, 'shutdown');
    }
    return this.whenEmpty().then(() => this.leave());
  }

  // ---- budget and reaper callbacks ----

  evictable(into: EvictionCandidate[]): void {
    let spare = this.warmCount() - (this.state === 'open' ? this.spec.minInstances : 0);
    if (spare <= 0) return;
    for (const s of this.idleOldestFirst()) {
      if (spare-- <= 0) break;
      into.push(s);
    }
  }

  memoryFreed(): void {
    this.ensureMin();
    if (this.queue.length !== 0) this.pump();
  }

  reap(now: number): number {
    if (this.state !== 'open') return Infinity;
    let next = Infinity;
    let spare = this.warmCount() - this.spec.minInstances;
    if (spare > 0) {
      const keepalive = this.spec.keepaliveMs;
      for (const s of this.idleOldestFirst()) {
        if (spare <= 0) break;
        const due = s.lastUsed + keepalive;
        if (due > now) {
          next = due;
          break;
        }
        this.retire(s, 'keepalive');
        spare--;
      }
    }
    this.ensureMin();
    if (this.warmCount() < this.spec.minInstances && this.prewarmNotBefore > now)
      next = Math.min(next, this.prewarmNotBefore);
    return next;
  }

  // ---- the call path ----

  private takeReady(): Slot | undefined {
    const ready = this.ready;
    const n = ready.length;
    if (n === 0) return undefined;
    const slot = ready[n - 1]!;
    slot.used = true;
    if (++slot.inflight >= this.perInstance) {
      ready.pop();
      slot.inReady = false;
      // A single-use instance kept warm is spent now: start its successor while this call runs.
      if (this.spec.singleUse && this.spec.minInstances !== 0) this.kick();
    }
    return slot;
  }

  private async invokeSlow(inv: Invocation, onRunning: (() => void) | undefined): Promise<Result> {
    let grant: Grant;
    try {
      grant = await this.acquireSlow(inv);
    } catch (e) {
      return this.refuse(inv, asTernError(e));
    }
    return this.run(inv, grant.slot, grant.cold, grant.initMs, onRunning);
  }

  private acquireSlow(inv: Invocation): Promise<Grant> {
    if (this.state === 'removing')
      return Promise.reject(new TernError('unavailable', `function "${this.name}" was removed`));
    if (this.state === 'closed') return Promise.reject(new TernError('unavailable', 'the node is shutting down'));
    const budget = this.deps.budget;
    if (this.spec.memory > budget.capacityMiB) {
      return Promise.reject(
        new TernError(
          'no_capacity',
          `function "${this.name}" needs ${this.spec.memory} MiB, more than this node's whole memory budget (${budget.capacityMiB} MiB)`,
        ),
      );
    }
    if (this.queue.length === 0) {
      const starting = this.attachable();
      if (starting !== undefined) {
        starting.claims++;
        return this.claim(starting, false);
      }
      const outcome = this.tryStart();
      if (outcome instanceof Slot) return this.claim(outcome, true);
      // Nothing of its own will free up and no idle instance can be evicted: say so now (the scheduler may offload).
      if (outcome === 'none' && this.serving.size === 0) {
        return Promise.reject(
          new TernError(
            'no_capacity',
            `node memory budget is full (${budget.usedMiB}/${budget.capacityMiB} MiB in use, nothing idle to evict)`,
          ),
        );
      }
    }
    return new Promise<Grant>((resolve, reject) => {
      if (!this.queue.push({ inv, resolve, reject })) reject(this.queueFull());
    });
  }

  private async run(
    inv: Invocation,
    slot: Slot,
    cold: boolean,
    initMs: number,
    onRunning: (() => void) | undefined,
  ): Promise<Result> {
    if (onRunning !== undefined) onRunning();
    const started = performance.now();
    let response: Response | undefined;
    let failure: TernError | undefined;
    try {
      response = await this.callInstance(slot, inv);
    } catch (e) {
      failure = asTernError(e);
    }
    const ended = performance.now();
    this.finish(slot, failure, ended);
    const runMs = ended - started;
    this.avgRunMs += (runMs - this.avgRunMs) / 8;
    const report: Report = {
      node: this.deps.nodeName,
      function: this.name,
      instance: slot.id,
      cold,
      queueMs: ms((cold ? slot.startedAt : started) - inv.receivedAt),
      initMs: ms(initMs),
      runMs: ms(runMs),
      totalMs: ms(ended - inv.receivedAt),
      offloaded: false,
      hops: [],
    };
    const result: Result =
      failure === undefined
        ? { status: response!.status, headers: response!.headers, body: response!.body, report }
        : errorResult(failure, report);
    return this.completed(inv, result);
  }

  private callInstance(slot: Slot, inv: Invocation): Promise<Response> {
    const instance = slot.instance!;
    const timeoutMs = slot.fn.spec.timeoutMs;
    return new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => reject(this.timedOut(slot, timeoutMs)), timeoutMs);
      let pending: Promise<Response>;
      try {
        pending = instance.call(inv, slot.abort.signal);
      } catch (e) {
        clearTimeout(timer);
        reject(e);
        return;
      }
      pending.then(
        (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  private timedOut(slot: Slot, timeoutMs: number): TernError {
    const err = new TernError('timeout', `function "${this.name}" did not finish within ${formatDuration(timeoutMs)}`);
    this.kill(slot, 'timeout', err.message);
    return err;
  }

  /** A call on `slot` ended: decide the instance's fate and hand it on. */
  private finish(slot: Slot, failure: TernError | undefined, now: number): void {
    slot.inflight--;
    slot.lastUsed = now;
    if (failure !== undefined && FATAL.has(failure.code)) {
      this.kill(slot, failure.code === 'timeout' ? 'timeout' : 'crashed', failure.message);
    } else if (slot.retired) {
      if (slot.inflight === 0) this.stopSlot(slot, false);
    } else if (this.spec.singleUse) {
      this.retire(slot, 'single_use');
    } else {
      if (!slot.inReady) {
        slot.inReady = true;
        this.ready.push(slot);
      }
      if (this.queue.length !== 0) this.pump();
      if (slot.inflight === 0 && !slot.retired) {
        this.deps.reaper.wake(now + this.spec.keepaliveMs);
        if (this.deps.budget.anyHungry) this.deps.budget.idleAppeared();
      }
      return;
    }
    if (this.queue.length !== 0) this.pump();
  }

  private completed(inv: Invocation, result: Result): Result {
    this.invocations++;
    if (--this.active === 0 && this.idleWaiters.length !== 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
    try {
      this.deps.finishCall(inv, result);
      this.deps.telemetry.callCompleted(inv, result);
    } catch (e) {
      this.deps.logger.error({ err: (e as Error).message }, 'telemetry callCompleted failed');
    }
    return result;
  }

  private async refuse(inv: Invocation, err: TernError): Promise<Result> {
    const report = emptyReport(this.deps.nodeName, this.name);
    report.totalMs = ms(performance.now() - inv.receivedAt);
    const refusal = REFUSALS.has(err.code);
    if (refusal) report.queueMs = report.totalMs;
    let result: Result;
    try {
      result = refusal ? await this.deps.refused(inv, err, report) : errorResult(err, report);
    } catch (e) {
      result = errorResult(asTernError(e), report);
    }
    return this.completed(inv, result);
  }

  private queueFull(): TernError {
    const capacity = this.queue.capacity;
    // Roughly when a place frees: the queue ahead, served by every instance slot at the average run time.
    const perSecond = (this.spec.maxInstances * this.perInstance * 1000) / Math.max(this.avgRunMs, 1);
    const seconds = Math.min(
      Math.max(1, Math.ceil((capacity + 1) / perSecond)),
      Math.max(1, Math.ceil(this.queue.waitMs / 1000)),
    );
    const message =
      capacity === 0
        ? `no instance of "${this.name}" is free and this node does not queue calls`
        : `the queue of "${this.name}" is full (${capacity} calls waiting)`;
    return new TernError('queue_full', message, { 'retry-after': String(seconds) });
  }

  /** Hands free instances (or new ones) to waiting calls, oldest first. */
  private pump(): void {
    const q = this.queue;
    while (q.length !== 0) {
      const slot = this.takeReady();
      if (slot !== undefined) {
        q.shift()!.resolve({ slot, cold: false, initMs: 0 });
        continue;
      }
      const starting = this.attachable();
      if (starting !== undefined) {
        starting.claims++;
        const w = q.shift()!;
        this.claim(starting, false).then(w.resolve, w.reject);
        continue;
      }
      if (this.state === 'removing' || this.state === 'closed') return;
      const outcome = this.tryStart();
      if (!(outcome instanceof Slot)) return;
      const w = q.shift()!;
      this.claim(outcome, true).then(w.resolve, w.reject);
    }
  }

  // ---- instance lifecycle ----

  /** A starting current-version instance that can still take a call once up (concurrent functions only). */
  private attachable(): Slot | undefined {
    if (this.perInstance === 1) return undefined;
    for (const s of this.serving) {
      if (s.starting && !s.retired && s.fn === this.current && s.claims < this.perInstance) return s;
    }
    return undefined;
  }

  private tryStart(): Slot | 'max' | 'wait' | 'none' {
    if (this.serving.size >= this.spec.maxInstances) return 'max';
    const outcome = this.deps.budget.reserve(this.spec.memory, this);
    if (outcome !== 'reserved') return outcome;
    return this.startSlot(1);
  }

  private async claim(slot: Slot, owner: boolean): Promise<Grant> {
    const failure = await slot.ready!;
    if (failure !== undefined) throw failure;
    return { slot, cold: owner, initMs: owner ? slot.readyAt - slot.startedAt : 0 };
  }

  /** Starts an instance of the current version; its memory is already reserved. */
  private startSlot(claims: number): Slot {
    const fn = this.current;
    const slot = new Slot(fn, this.evictSlot);
    slot.claims = claims;
    slot.startedAt = performance.now();
    this.serving.add(slot);
    this.reservedMiB += slot.memoryMiB;
    slot.ready = this.startInstance(slot).then(
      (instance) => this.started(slot, instance),
      (e: unknown) => this.startFailed(slot, e),
    );
    return slot;
  }

  /** runtime.start, bounded: an instance that comes up after the bound is killed, not leaked. */
  private startInstance(slot: Slot): Promise<Instance> {
    const fn = slot.fn;
    const runtime = this.deps.runtimes(fn.spec.runtime);
    if (!runtime)
      return Promise.reject(new TernError('unavailable', `runtime "${fn.spec.runtime}" is not available on this node`));
    const boundMs = Math.max(fn.spec.timeoutMs, START_BOUND_MS);
    return new Promise<Instance>((resolve, reject) => {
      let late = false;
      const timer = setTimeout(() => {
        late = true;
        reject(
          new TernError(
            'function_crashed',
            `instance of "${this.name}" did not start within ${formatDuration(boundMs)}`,
          ),
        );
      }, boundMs);
      // The runtime's own work keeps the process alive while a start is real; this bound must not.
      timer.unref();
      let starting: Promise<Instance>;
      try {
        starting = runtime.start(fn, { id: slot.id, log: this.deps.logSink, scratchRoot: this.deps.scratchDir });
      } catch (e) {
        starting = Promise.reject(e);
      }
      starting.then(
        (instance) => {
          clearTimeout(timer);
          if (late) void stopInstance(instance, true);
          else resolve(instance);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  private started(slot: Slot, instance: Instance): TernError | undefined {
    slot.instance = instance;
    slot.starting = false;
    slot.readyAt = slot.lastUsed = performance.now();
    this.startFailures = 0;
    this.deps.telemetry.instanceStarted(this.name, slot.id, ms(slot.readyAt - slot.startedAt));
    instance.onExit((reason) => this.exited(slot, reason));
    const claims = slot.claims;
    slot.claims = 0;
    if (slot.abort.signal.aborted) {
      this.stopSlot(slot, true);
      return new TernError('unavailable', `instance ${slot.id} was stopped while starting`);
    }
    slot.inflight = claims;
    slot.used = claims > 0;
    if (slot.retired) {
      if (claims === 0) this.stopSlot(slot, false);
      return undefined;
    }
    if (claims < this.perInstance) {
      slot.inReady = true;
      this.ready.push(slot);
    }
    if (claims === 0) this.deps.reaper.wake(slot.readyAt + slot.fn.spec.keepaliveMs);
    if (this.queue.length !== 0) this.pump();
    return undefined;
  }

  private startFailed(slot: Slot, e: unknown): TernError {
    const err = isTernError(e)
      ? e
      : new TernError(
          'function_crashed',
          `instance of "${this.name}" failed to start: ${e instanceof Error ? e.message : String(e)}`,
        );
    slot.starting = false;
    slot.claims = 0;
    slot.retired = slot.stopping = true;
    this.serving.delete(slot);
    this.reservedMiB -= slot.memoryMiB;
    this.deps.budget.release(slot.memoryMiB, false);
    this.startFailures++;
    this.prewarmNotBefore =
      performance.now() + Math.min(PREWARM_BACKOFF_MAX_MS, PREWARM_BACKOFF_MS * 2 ** (this.startFailures - 1));
    this.deps.logger.warn(
      { event: 'instance_start_failed', function: this.name, instance: slot.id, err: err.message },
      `instance of ${this.name} failed to start`,
    );
    this.deps.telemetry.instanceStopped(this.name, slot.id, 'start_failed', err.message);
    this.afterStop();
    return err;
  }

  private exited(slot: Slot, reason: string): void {
    if (slot.stopping) return;
    this.deps.logger.warn(
      { event: 'instance_exit', function: this.name, instance: slot.id, reason },
      `instance ${slot.id} exited`,
    );
    this.kill(slot, 'crashed', `exited: ${reason}`);
  }

  private readonly evictSlot = (slot: Slot): void => this.retire(slot, 'evicted');

  /** Out of service: takes no new call; stops once its calls are done. */
  private retire(slot: Slot, reason: InstanceStopReason, detail?: string): void {
    if (slot.retired) return;
    slot.retired = true;
    slot.stopReason = reason;
    slot.stopDetail = detail;
    if (slot.inReady) {
      slot.inReady = false;
      const i = this.ready.indexOf(slot);
      if (i !== -1) this.ready.splice(i, 1);
    }
    if (!slot.starting && slot.inflight === 0) this.stopSlot(slot, false);
    else this.kick();
  }

  /** Out of service and killed now, calls or not (timeout, crash, shutdown). */
  private kill(slot: Slot, reason: InstanceStopReason, detail: string): void {
    this.retire(slot, reason, detail);
    slot.abort.abort();
    if (!slot.starting) this.stopSlot(slot, true);
  }

  private stopSlot(slot: Slot, hard: boolean): void {
    if (slot.stopping) return;
    slot.stopping = true;
    this.serving.delete(slot);
    this.stopping.add(slot);
    this.deps.budget.releasing(slot.memoryMiB);
    const instance = slot.instance!;
    void stopInstance(instance, hard).then((problem) => {
      if (problem === undefined) slot.releaseController();
      this.stopping.delete(slot);
      this.reservedMiB -= slot.memoryMiB;
      this.deps.budget.release(slot.memoryMiB, true);
      if (problem !== undefined) {
        this.deps.logger.warn(
          { event: 'instance_stop_problem', function: this.name, instance: slot.id, problem },
          `instance ${slot.id}: ${problem}`,
        );
      }
      this.deps.telemetry.instanceStopped(this.name, slot.id, slot.stopReason, slot.stopDetail);
      this.afterStop();
    });
    this.kick();
  }

  /**
   * Refill and serve the queue after the current call stack: retire/stop run inside eviction
   * (budget.reserve) and inside pump itself, where starting more at once would re-enter them.
   */
  private kick(): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    queueMicrotask(this.kickNow);
  }

  private readonly kickNow = (): void => {
    this.kickScheduled = false;
    this.ensureMin();
    if (this.queue.length !== 0) this.pump();
  };

  private afterStop(): void {
    this.ensureMin();
    if (this.queue.length !== 0) this.pump();
    this.checkDrained();
    if (this.serving.size === 0 && this.stopping.size === 0 && this.emptyWaiters.length !== 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Current-version instances that count as warm (a used single-use instance does not). */
  private warmCount(): number {
    let n = 0;
    const singleUse = this.spec.singleUse;
    for (const s of this.serving) if (!s.retired && !(singleUse && s.used)) n++;
    return n;
  }

  private idleOldestFirst(): Slot[] {
    return this.ready.filter((s) => s.inflight === 0).sort((a, b) => a.lastUsed - b.lastUsed);
  }

  /** Keeps min-instances warm: after deploy, after an instance goes away, after memory frees. */
  private ensureMin(): void {
    const want = this.spec.minInstances;
    if (want === 0 || this.state !== 'open') return;
    let have = this.warmCount();
    if (have >= want) return;
    if (performance.now() < this.prewarmNotBefore) {
      this.deps.reaper.wake(this.prewarmNotBefore);
      return;
    }
    while (have < want && this.serving.size < this.spec.maxInstances) {
      if (!this.deps.budget.tryReserve(this.spec.memory)) {
        this.deps.budget.waitForMemory(this);
        return;
      }
      this.startSlot(0);
      have++;
    }
  }

  private checkDrained(): void {
    // A removed pool releases every version itself once empty.
    if (this.old.size === 0 || this.state === 'removing') return;
    for (const s of this.serving) if (s.fn !== this.current) return;
    for (const s of this.stopping) if (s.fn !== this.current) return;
    const gone = [...this.old].filter((fn) => fn.version !== this.current.version);
    this.old.clear();
    this.releaseArtefacts(gone);
    this.deps.drained(gone);
  }

  private releaseArtefacts(versions: DeployedFunction[]): void {
    for (const fn of versions) {
      try {
        this.deps.runtimes(fn.spec.runtime)?.release(fn);
      } catch (e) {
        this.deps.logger.warn(
          { function: this.name, version: fn.version, err: (e as Error).message },
          'runtime release failed',
        );
      }
    }
  }

  private whenEmpty(): Promise<void> {
    if (this.serving.size === 0 && this.stopping.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  private leave(): void {
    this.deps.budget.leave(this);
    this.deps.reaper.delete(this);
  }
}
