/**
 * One function's instances through their lives: a bounded start, ready, retired (finishes what it
 * runs), killed, stopped; min-instances kept warm with backoff after failed starts; older versions
 * draining after an update. The call path (pool.ts) decides which call gets which instance; this
 * decides when instances come and go.
 */
import type { Logger } from 'pino';
import { formatDuration } from '../core/duration.js';
import { isTernError, TernError, type ErrorCode } from '../core/errors.js';
import type { CallFinisher } from '../core/host.js';
import type { Invocation } from '../core/invocation.js';
import { ms, type Report } from '../core/report.js';
import type { Result } from '../core/result.js';
import type { InstanceStopReason, Telemetry } from '../core/telemetry.js';
import type { DeployedFunction } from '../registry/registry.js';
import type { FunctionSpec, RuntimeName } from '../registry/spec.js';
import type { Instance, LogSink, Runtime } from '../runtimes/runtime.js';
import type { BudgetMember, EvictionCandidate, MemoryBudget } from './budget.js';
import type { Reapable, Reaper } from './reaper.js';
import type { LeaseHost, LoopId } from './leases.js';
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
  /** The node's edge loops, where instances may be lent (absent: nothing is lent). */
  leases?: LeaseHost;
}

/** A call's claim on an instance. */
export interface Grant {
  slot: Slot;
  /** This call caused the instance's start. */
  cold: boolean;
  initMs: number;
}

export interface Waiting {
  inv: Invocation;
  resolve(grant: Grant): void;
  reject(reason: TernError): void;
}

/** Errors after which the instance is not trusted again. 'function_error' (a trap, an exception) is not one. */
export const FATAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'function_crashed',
  'memory_exceeded',
  'timeout',
  'internal',
]);
export const REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['queue_full', 'queue_timeout', 'no_capacity']);

/** Backoff of min-instances refills after failed starts: 250ms doubling up to 30s. */
const PREWARM_BACKOFF_MS = 250;
const PREWARM_BACKOFF_MAX_MS = 30_000;
/** A start may take this long (or the function's timeout, if longer) before it counts as failed. */
const START_BOUND_MS = 60_000;

export type PoolState = 'open' | 'draining' | 'removing' | 'closed';

export abstract class PoolInstances implements BudgetMember, Reapable {
  readonly name: string;
  protected current: DeployedFunction;
  protected spec: FunctionSpec;
  /** An instance per call (see spendsInstances). */
  protected singleUse: boolean;
  /** Calls one instance takes at once (1 for single-use). */
  protected perInstance: number;
  protected state: PoolState = 'open';
  /** Instances not yet stopping: starting, ready, busy, and retired ones finishing their calls. */
  protected readonly serving = new Set<Slot>();
  protected readonly stopping = new Set<Slot>();
  /** Current-version instances with room for a call; the most recently used last. */
  protected readonly ready: Slot[] = [];
  /** Older versions whose instances still run. */
  protected readonly old = new Set<DeployedFunction>();
  protected reservedMiB = 0;
  protected startFailures = 0;
  protected prewarmNotBefore = 0;
  protected emptyWaiters: (() => void)[] = [];
  protected kickScheduled = false;
  protected invocations = 0;
  /** Calls inside the pool (queued, starting, running), and instances lent to loops. */
  protected active = 0;
  protected idleWaiters: (() => void)[] = [];
  /** Instances lent to the loops hosting them, by instance id. */
  protected readonly lent = new Map<string, Slot>();

  constructor(
    fn: DeployedFunction,
    protected readonly deps: PoolDeps,
  ) {
    this.name = fn.spec.name;
    this.current = fn;
    this.spec = fn.spec;
    this.singleUse = this.spendsInstances(fn);
    this.perInstance = this.singleUse ? 1 : fn.spec.concurrentRequests;
  }

  /** A call (or a lease) left the pool. */
  protected left(): void {
    if (--this.active === 0 && this.idleWaiters.length !== 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** The loop gave the lease back, or the instance stops: count its calls, free its counters. */
  protected endLease(slot: Slot): void {
    const lease = slot.lease;
    if (lease === undefined) return;
    slot.lease = undefined;
    this.lent.delete(slot.id);
    const counters = this.deps.leases!.counters;
    this.invocations += counters.calls(lease.counters);
    counters.release(lease.counters);
    this.left();
  }

  /** Ask for the instance back; the loop returns it once no call runs on it. */
  protected revokeLease(slot: Slot): void {
    const lease = slot.lease;
    if (lease === undefined || lease.revoked) return;
    lease.revoked = true;
    this.deps.leases!.revoke(lease.loop, slot.id);
  }

  /** Every lent instance of this function back (calls queue here, memory is needed, shutdown). */
  protected revokeAll(): void {
    for (const slot of this.lent.values()) this.revokeLease(slot);
  }

  /**
   * Single-use as the pool applies it: an instance per call, unless the runtime already runs
   * every call in a fresh sandbox of its own (wasm: a new WebAssembly instance per call), where
   * the pool's instance is only a warm execution context and spending it would add nothing.
   */
  protected spendsInstances(fn: DeployedFunction): boolean {
    return fn.spec.singleUse && this.deps.runtimes(fn.spec.runtime)?.freshPerCall !== true;
  }

  /** Hand free instances to queued calls, if any wait (the call path's queue). */
  protected abstract serveQueue(): void;
  abstract evictable(into: EvictionCandidate[]): void;
  abstract memoryFreed(): void;
  abstract reap(now: number): number;

  /** A starting current-version instance that can still take a call once up (concurrent functions only). */
  protected attachable(): Slot | undefined {
    if (this.perInstance === 1) return undefined;
    for (const s of this.serving) {
      if (s.starting && !s.retired && s.fn === this.current && s.claims < this.perInstance) return s;
    }
    return undefined;
  }

  protected tryStart(placement?: LoopId): Slot | 'max' | 'wait' | 'none' {
    if (this.serving.size >= this.spec.maxInstances) return 'max';
    const outcome = this.deps.budget.reserve(this.spec.memory, this);
    if (outcome !== 'reserved') return outcome;
    return this.startSlot(1, placement);
  }

  protected async claim(slot: Slot, owner: boolean): Promise<Grant> {
    const failure = await slot.ready!;
    if (failure !== undefined) throw failure;
    return { slot, cold: owner, initMs: owner ? slot.readyAt - slot.startedAt : 0 };
  }

  /** Starts an instance of the current version; its memory is already reserved. */
  protected startSlot(claims: number, placement?: LoopId): Slot {
    const fn = this.current;
    const slot = new Slot(fn, this.evictSlot);
    slot.claims = claims;
    slot.startedAt = performance.now();
    this.serving.add(slot);
    this.reservedMiB += slot.memoryMiB;
    slot.ready = this.startInstance(slot, placement).then(
      (instance) => this.started(slot, instance),
      (e: unknown) => this.startFailed(slot, e),
    );
    return slot;
  }

  /** runtime.start, bounded: an instance that comes up after the bound is killed, not leaked. */
  protected startInstance(slot: Slot, placement: LoopId | undefined): Promise<Instance> {
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
        starting = runtime.start(fn, {
          id: slot.id,
          log: this.deps.logSink,
          scratchRoot: this.deps.scratchDir,
          ...(placement !== undefined ? { placement } : {}),
        });
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

  protected started(slot: Slot, instance: Instance): TernError | undefined {
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
    this.serveQueue();
    return undefined;
  }

  protected startFailed(slot: Slot, e: unknown): TernError {
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

  protected exited(slot: Slot, reason: string): void {
    if (slot.stopping) return;
    this.deps.logger.warn(
      { event: 'instance_exit', function: this.name, instance: slot.id, reason },
      `instance ${slot.id} exited`,
    );
    this.kill(slot, 'crashed', `exited: ${reason}`);
  }

  protected readonly evictSlot = (slot: Slot): void => this.retire(slot, 'evicted');

  /** Out of service: takes no new call; stops once its calls are done. */
  protected retire(slot: Slot, reason: InstanceStopReason, detail?: string): void {
    if (slot.retired) return;
    slot.retired = true;
    this.revokeLease(slot);
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
  protected kill(slot: Slot, reason: InstanceStopReason, detail: string): void {
    this.retire(slot, reason, detail);
    slot.abort.abort();
    if (!slot.starting) this.stopSlot(slot, true);
  }

  protected stopSlot(slot: Slot, hard: boolean): void {
    if (slot.stopping) return;
    slot.stopping = true;
    this.endLease(slot);
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
  protected kick(): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    queueMicrotask(this.kickNow);
  }

  protected readonly kickNow = (): void => {
    this.kickScheduled = false;
    this.ensureMin();
    this.serveQueue();
  };

  protected afterStop(): void {
    this.ensureMin();
    this.serveQueue();
    this.checkDrained();
    if (this.serving.size === 0 && this.stopping.size === 0 && this.emptyWaiters.length !== 0) {
      const waiters = this.emptyWaiters;
      this.emptyWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Current-version instances that count as warm (a used single-use instance does not). */
  protected warmCount(): number {
    let n = 0;
    const singleUse = this.singleUse;
    for (const s of this.serving) if (!s.retired && !(singleUse && s.used)) n++;
    return n;
  }

  protected idleOldestFirst(): Slot[] {
    return this.ready.filter((s) => s.inflight === 0).sort((a, b) => a.lastUsed - b.lastUsed);
  }

  /** Keeps min-instances warm: after deploy, after an instance goes away, after memory frees. */
  protected ensureMin(): void {
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

  protected checkDrained(): void {
    // A removed pool releases every version itself once empty.
    if (this.old.size === 0 || this.state === 'removing') return;
    for (const s of this.serving) if (s.fn !== this.current) return;
    for (const s of this.stopping) if (s.fn !== this.current) return;
    const gone = [...this.old].filter((fn) => fn.version !== this.current.version);
    this.old.clear();
    this.releaseArtefacts(gone);
    this.deps.drained(gone);
  }

  protected releaseArtefacts(versions: DeployedFunction[]): void {
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

  protected whenEmpty(): Promise<void> {
    if (this.serving.size === 0 && this.stopping.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.emptyWaiters.push(resolve));
  }

  protected leave(): void {
    this.deps.budget.leave(this);
    this.deps.reaper.delete(this);
  }
}
