/**
 * One function's instances and every lifecycle policy of its spec: reuse and concurrency,
 * single-use, keepalive, min/max instances, timeout, crash handling, the FIFO queue and graceful
 * version updates. Runtimes only start, call and stop; every "when" is decided here (the
 * instances' own lifecycle in instances.ts).
 *
 * The warm path (an instance with room, nobody queued) is `invoke` -> `takeReady` -> `run`: no
 * timers but the call's timeout, no allocation beyond the call's promise, report and result.
 */
import { formatDuration } from '../core/duration.js';
import { asTernError, TernError } from '../core/errors.js';
import type { Invocation } from '../core/invocation.js';
import { emptyReport, ms, type Report } from '../core/report.js';
import { errorResult, type Response, type Result } from '../core/result.js';
import type { FunctionStatus } from '../core/status.js';
import type { DeployedFunction } from '../registry/registry.js';
import type { BudgetMember, EvictionCandidate } from './budget.js';
import { FATAL, PoolInstances, REFUSALS, type Grant, type PoolDeps, type Waiting } from './instances.js';
import { WaitQueue } from './queue.js';
import type { Lent, LoopId } from './leases.js';
import type { Reapable } from './reaper.js';
import { Slot } from './slot.js';

export type { PoolDeps } from './instances.js';

export class FunctionPool extends PoolInstances implements BudgetMember, Reapable {
  private readonly queue: WaitQueue<Waiting>;
  /** Moving average of run time, for Retry-After. */
  private avgRunMs = 0;

  constructor(fn: DeployedFunction, deps: PoolDeps) {
    super(fn, deps);
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

  protected serveQueue(): void {
    if (this.queue.length !== 0) this.pump();
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
    return this.enter(inv, onRunning, undefined) as Promise<Result>;
  }

  /**
   * A call forwarded by edge loop `origin`: as invoke, except that when the instance it gets lives
   * on `origin` and could take no other call now anyway, the pool lends it to `origin` instead of
   * running the call here (the loop runs this call and the next ones on it; see leases.ts).
   */
  dispatch(inv: Invocation, origin: LoopId): Promise<Result | Lent> {
    return this.enter(inv, undefined, origin);
  }

  /** The loop gives back a lent instance; a failure says it must not be trusted again. */
  returnLease(instance: string, lastUsed: number, failure: TernError | undefined): void {
    const slot = this.lent.get(instance);
    if (slot === undefined) return;
    this.endLease(slot);
    slot.inflight = 1;
    this.finish(slot, failure, lastUsed);
  }

  private enter(inv: Invocation, onRunning: (() => void) | undefined, origin: LoopId | undefined) {
    this.active++;
    if (this.queue.length === 0) {
      const slot = this.takeReady(origin);
      if (slot !== undefined) return this.runOrLend(inv, slot, false, 0, onRunning, origin);
    }
    return this.enterSlow(inv, onRunning, origin);
  }

  private runOrLend(
    inv: Invocation,
    slot: Slot,
    cold: boolean,
    initMs: number,
    onRunning: (() => void) | undefined,
    origin: LoopId | undefined,
  ): Promise<Result | Lent> {
    if (origin !== undefined && this.lendable(slot, origin)) {
      const lent = this.lend(slot, origin, inv, cold, initMs);
      if (lent !== undefined) return Promise.resolve(lent);
    }
    return this.run(inv, slot, cold, initMs, onRunning);
  }

  private lendable(slot: Slot, origin: LoopId): boolean {
    return (
      origin !== 0 &&
      this.deps.leases !== undefined &&
      slot.home === origin &&
      slot.inflight === 1 &&
      !slot.retired &&
      slot.fn === this.current &&
      this.queue.length === 0
    );
  }

  /** The slot, taken by this call alone, goes to `origin` with the call; undefined when no counters are free. */
  private lend(slot: Slot, origin: LoopId, inv: Invocation, cold: boolean, initMs: number): Lent | undefined {
    const counters = this.deps.leases!.counters.alloc();
    if (counters === undefined) return undefined;
    slot.lease = { loop: origin, counters, revoked: false };
    this.lent.set(slot.id, slot);
    if (slot.inReady) {
      slot.inReady = false;
      this.ready.splice(this.ready.indexOf(slot), 1);
    }
    slot.inflight = this.perInstance;
    const now = performance.now();
    const spec = slot.fn.spec;
    return {
      lease: {
        instance: slot.id,
        fn: this.name,
        version: slot.fn.version,
        perInstance: this.perInstance,
        maxCalls: this.singleUse ? 1 : 0,
        timeoutMs: spec.timeoutMs,
        counters,
      },
      first: { cold, initMs: ms(initMs), queueMs: ms((cold ? slot.startedAt : now) - inv.receivedAt) },
    };
  }

  status(): FunctionStatus {
    let starting = 0;
    let idle = 0;
    let busy = 0;
    let leasedCalls = 0;
    const counters = this.deps.leases?.counters;
    for (const s of this.serving) {
      if (s.starting) starting++;
      else if (s.lease !== undefined) {
        // A lent instance is busy only while its loop runs a call on it.
        if (counters!.busy(s.lease.counters) > 0) busy++;
        else idle++;
        leasedCalls += counters!.calls(s.lease.counters);
      } else if (s.inflight > 0) busy++;
      else idle++;
    }
    return {
      name: this.name,
      instances: { starting, idle, busy, total: starting + idle + busy },
      queued: this.queue.length,
      invocations: this.invocations + leasedCalls,
      memoryMiB: this.reservedMiB,
    };
  }

  /** Graceful update: new calls go to `fn`; older instances finish their calls, then stop. */
  update(fn: DeployedFunction): void {
    if (this.state !== 'open') return;
    this.old.add(this.current);
    this.current = fn;
    this.spec = fn.spec;
    this.singleUse = this.spendsInstances(fn);
    this.perInstance = this.singleUse ? 1 : fn.spec.concurrentRequests;
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
    this.revokeAll();
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
    // Memory is wanted: lent instances come back, so that idle ones can be evicted next time.
    this.revokeAll();
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

  /** The most recently used ready instance, one living on `origin` if there is one. */
  private takeReady(origin?: LoopId): Slot | undefined {
    const ready = this.ready;
    const n = ready.length;
    if (n === 0) return undefined;
    let at = n - 1;
    if (origin !== undefined) {
      for (let i = n - 1; i >= 0; i--) {
        if (ready[i]!.home === origin) {
          at = i;
          break;
        }
      }
    }
    const slot = ready[at]!;
    slot.used = true;
    if (++slot.inflight >= this.perInstance) {
      if (at === n - 1) ready.pop();
      else ready.splice(at, 1);
      slot.inReady = false;
      // A single-use instance kept warm is spent now: start its successor while this call runs.
      if (this.singleUse && this.spec.minInstances !== 0) this.kick();
    }
    return slot;
  }

  private async enterSlow(
    inv: Invocation,
    onRunning: (() => void) | undefined,
    origin: LoopId | undefined,
  ): Promise<Result | Lent> {
    let grant: Grant;
    try {
      grant = await this.acquireSlow(inv, origin);
    } catch (e) {
      return this.refuse(inv, asTernError(e));
    }
    return this.runOrLend(inv, grant.slot, grant.cold, grant.initMs, onRunning, origin);
  }

  private acquireSlow(inv: Invocation, origin: LoopId | undefined): Promise<Grant> {
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
      const outcome = this.tryStart(origin);
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
    // Calls wait here now: lent instances come back to serve them in order.
    this.revokeAll();
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
    } else if (this.singleUse) {
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
    this.left();
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
}
