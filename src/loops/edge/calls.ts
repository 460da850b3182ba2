/**
 * Calls arriving at an edge loop. The warm path runs on an instance this loop holds on lease:
 * no message to the control loop, the pool's timeout enforced here, the report built as the pool
 * builds it. A call with no lease of its function goes to the control loop, which runs it or
 * lends this loop the instance it got (pool.ts `dispatch`); async calls always go there (their
 * journal is there).
 */
import { formatDuration } from '../../core/duration.js';
import { asTernError, TernError, type ErrorCode } from '../../core/errors.js';
import type { Invocation } from '../../core/invocation.js';
import { ms, type Report } from '../../core/report.js';
import { errorResult, type Response, type Result } from '../../core/result.js';
import type { CallRecord } from '../../core/status.js';
import type { LeaseCounterCells } from '../../pool/leases.js';
import type { Channel } from '../channel.js';
import type { ControlApi, EdgeApi, FirstCall, LeaseGrant, LeaseReturn } from '../protocol.js';
import { invocationToWire, resultFromWire, toEpoch } from '../wire.js';
import type { EdgeInstances } from './instances.js';
import { Deadlines } from './deadlines.js';
import { EdgeLease, LeaseTable } from './leases.js';

/** Errors after which the instance is not trusted again (as the pool's FATAL). */
const FATAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'function_crashed',
  'memory_exceeded',
  'timeout',
  'internal',
]);

/** A lease idle this long goes back to the pool (keepalive and eviction are decided there). */
const LEASE_IDLE_MS = 1_000;
const SWEEP_MS = 250;

export interface CallObserver {
  /** Every call that completed on this loop, with its final result. */
  completed(inv: Invocation, result: Result): void;
}

export interface EdgeCallsOptions {
  nodeName: string;
  channel: Channel<EdgeApi, ControlApi>;
  loop: number;
  instances: EdgeInstances;
  cells: LeaseCounterCells;
  observer: CallObserver;
  /** Whether a call used host services (its end-of-call bookkeeping is on the control loop then). */
  usedHost: (callId: string) => boolean;
}

/** Calls here are stopped by killing their instance, never through their signal. */
const NEVER_ABORTED = new AbortController().signal;

export class EdgeCalls {
  readonly leases = new LeaseTable();
  private readonly deadlines = new Deadlines();
  private readonly sweeper: NodeJS.Timeout;
  private running = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly o: EdgeCallsOptions) {
    this.sweeper = setInterval(() => this.returnIdle(), SWEEP_MS);
    this.sweeper.unref();
  }

  /** A synchronous call: on a lease here, else through the control loop. */
  invoke(inv: Invocation): Promise<Result> {
    const lease = this.leases.take(inv.function);
    if (lease !== undefined) return this.run(lease, inv, undefined);
    return this.forward(inv);
  }

  submit(inv: Invocation): Promise<CallRecord> {
    return this.o.channel.call('submit', { inv: invocationToWire(inv) });
  }

  /** The pool wants the instance back. */
  revoke(instance: string): void {
    const lease = this.leases.get(instance);
    if (lease === undefined) return;
    lease.revoked = true;
    this.settle(lease);
  }

  /** Resolves once no call runs on this loop (or at the deadline). */
  idle(deadlineMs: number): Promise<void> {
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, deadlineMs));
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Every lease back to the pool (shutdown). */
  returnAll(): void {
    clearInterval(this.sweeper);
    for (const lease of this.leases.all()) {
      lease.revoked = true;
      this.settle(lease);
    }
  }

  private async forward(inv: Invocation): Promise<Result> {
    this.running++;
    try {
      const answer = await this.o.channel.call('dispatch', { inv: invocationToWire(inv), origin: this.o.loop });
      if ('result' in answer) return resultFromWire(answer.result);
      const lease = this.adopt(answer.lease);
      if (lease === undefined) return this.lost(inv, answer.lease);
      return await this.run(lease, inv, answer.first);
    } finally {
      this.left();
    }
  }

  /** A lease the pool granted on an instance that lives here. */
  private adopt(grant: LeaseGrant): EdgeLease | undefined {
    const instance = this.o.instances.get(grant.instance);
    if (instance === undefined) return undefined;
    const lease = new EdgeLease(grant, instance);
    this.leases.add(lease);
    return lease;
  }

  /** The pool lent an instance this loop no longer has (it died meanwhile): give it back, broken. */
  private lost(inv: Invocation, grant: LeaseGrant): Result {
    const err = new TernError('function_crashed', `instance ${grant.instance} is gone`);
    this.o.channel.notify('returnLease', {
      fn: grant.fn,
      instance: grant.instance,
      lastUsedEpoch: toEpoch(performance.now()),
      failure: { code: 'function_crashed', message: err.message },
    });
    const report: Report = {
      node: this.o.nodeName,
      function: inv.function,
      instance: grant.instance,
      cold: false,
      queueMs: 0,
      initMs: 0,
      runMs: 0,
      totalMs: ms(performance.now() - inv.receivedAt),
      offloaded: false,
      hops: [],
    };
    return errorResult(err, report);
  }

  private async run(lease: EdgeLease, inv: Invocation, first: FirstCall | undefined): Promise<Result> {
    const { grant } = lease;
    lease.inflight++;
    this.running++;
    this.o.cells.began(grant.counters);
    const started = performance.now();
    let response: Response | undefined;
    let failure: TernError | undefined;
    try {
      response = await this.callWithin(lease, inv);
    } catch (e) {
      failure = asTernError(e);
    }
    const ended = performance.now();
    lease.inflight--;
    lease.calls++;
    lease.lastUsed = ended;
    this.o.cells.ended(grant.counters);
    if (failure !== undefined && FATAL.has(failure.code)) lease.broken = failure;
    this.settle(lease);
    const report: Report = {
      node: this.o.nodeName,
      function: inv.function,
      instance: grant.instance,
      cold: first?.cold ?? false,
      queueMs: first?.queueMs ?? ms(started - inv.receivedAt),
      initMs: first?.initMs ?? 0,
      runMs: ms(ended - started),
      totalMs: ms(ended - inv.receivedAt),
      offloaded: false,
      hops: [],
    };
    const result: Result =
      failure === undefined
        ? { status: response!.status, headers: response!.headers, body: response!.body, report }
        : errorResult(failure, report);
    if (this.o.usedHost(inv.id)) await this.finishOnControl(inv, result);
    this.o.observer.completed(inv, result);
    this.left();
    return result;
  }

  /** The instance's call, bounded by the function's timeout (the pool's rule: past it the instance is killed). */
  private callWithin(lease: EdgeLease, inv: Invocation): Promise<Response> {
    const timeoutMs = lease.grant.timeoutMs;
    return new Promise<Response>((resolve, reject) => {
      const done = this.deadlines.add(timeoutMs, () => {
        // Killing the instance ends the call it runs; the lease goes back broken.
        void lease.instance.kill().catch(() => undefined);
        reject(
          new TernError('timeout', `function "${inv.function}" did not finish within ${formatDuration(timeoutMs)}`),
        );
      });
      lease.instance.call(inv, NEVER_ABORTED).then(
        (r) => {
          done();
          resolve(r);
        },
        (e: unknown) => {
          done();
          reject(e);
        },
      );
    });
  }

  private async finishOnControl(inv: Invocation, result: Result): Promise<void> {
    try {
      const { children } = await this.o.channel.call('finishCall', { callId: inv.id });
      if (children !== undefined && children.length > 0) result.report.children = children as Report['children'];
    } catch {
      // The control loop is going away: the report goes out without its children.
    }
  }

  /** Give a lease back once it is done for (revoked, spent, broken). */
  private settle(lease: EdgeLease): void {
    if (!lease.finished) {
      // No new call may take it; the last one to end gives it back.
      if (lease.revoked || lease.broken) this.leases.remove(lease);
      return;
    }
    lease.returned = true;
    this.leases.remove(lease);
    const ret: LeaseReturn = {
      fn: lease.grant.fn,
      instance: lease.grant.instance,
      lastUsedEpoch: toEpoch(lease.lastUsed),
      ...(lease.broken
        ? {
            failure: {
              code: lease.broken.code as NonNullable<LeaseReturn['failure']>['code'],
              message: lease.broken.message,
            },
          }
        : {}),
    };
    this.o.channel.notify('returnLease', ret);
  }

  private returnIdle(): void {
    const now = performance.now();
    for (const lease of this.leases.all()) {
      if (lease.inflight === 0 && now - lease.lastUsed > LEASE_IDLE_MS) {
        lease.revoked = true;
        this.settle(lease);
      }
    }
  }

  private left(): void {
    if (--this.running === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }
}
