/**
 * The node's scheduler: routes each call to its function's pool, answers for unknown functions
 * and a closing node, keeps the async call table, and is where offloading plugs in (`offloader`
 * is asked whenever the local pool would refuse a call with 429/503).
 */
import type { Logger } from 'pino';
import { TernError } from '../core/errors.js';
import type { CallFinisher } from '../core/host.js';
import type { Invocation } from '../core/invocation.js';
import { emptyReport, ms, type Report } from '../core/report.js';
import { errorResult, type Result } from '../core/result.js';
import type { RejectReason, Telemetry } from '../core/telemetry.js';
import { MemoryBudget } from '../pool/budget.js';
import type { LeaseHost, Lent, LoopId } from '../pool/leases.js';
import { FunctionPool, type PoolDeps } from '../pool/pool.js';
import { Reaper } from '../pool/reaper.js';
import { KILL_WAIT_MS, STOP_GRACE_MS } from '../pool/stop.js';
import type { DeployedFunction, Registry } from '../registry/registry.js';
import type { RuntimeName } from '../registry/spec.js';
import type { LogSink, Runtime } from '../runtimes/runtime.js';
import { CallTable } from './calls.js';
import type { CallRecord, FunctionStatus, JobKind, Scheduler } from './types.js';

export interface SchedulerOptions {
  nodeName: string;
  /** The runtime for a spec.runtime. */
  runtimes: (name: RuntimeName) => Runtime | undefined;
  /** Used to prune old versions once their instances have drained. */
  registry: Registry;
  memoryBudgetMiB: number;
  queue: { capacity: number; waitMs: number };
  /** dir = <data>/calls. maxBodyBytes bounds a stored result body (default 6 MiB, the default body limit). */
  calls: { retentionMs: number; max: number; dir: string; maxBodyBytes?: number };
  /** InstanceOptions.scratchRoot */
  scratchDir: string;
  telemetry: Telemetry;
  /** Runs once a call has its result, before telemetry sees it (the host side's bookkeeping). */
  finishCall?: CallFinisher;
  /** Passed to runtime.start as options.log. */
  logSink: LogSink;
  logger: Logger;
  /** The node's edge loops, where pools may lend instances (absent: none are lent). */
  leases?: LeaseHost;
  /**
   * Consulted when the local pool would answer queue_full, queue_timeout or no_capacity.
   * A Result it returns is the answer; undefined keeps the local refusal.
   */
  offloader?: (inv: Invocation, reason: TernError) => Promise<Result | undefined>;
  /** Given the node's memory budget once it exists (runtimes count their zygotes in it). */
  onBudget?: (budget: MemoryBudget) => void;
}

/** An async job that is not one function call (a workflow run), kept in the same call table. */
export interface AsyncJob {
  id: string;
  /** What the record's `function` names (the workflow). */
  name: string;
  kind: JobKind;
  private: boolean;
  /**
   * Runs the job to its result; calls `running()` when it starts. Undefined: it stopped without an
   * end (the node shuts down) and its owner resumes it at the next start.
   */
  run(running: () => void): Promise<Result | undefined>;
  /** Called once the result is on disk. */
  recorded?(): void;
}

export interface NodeScheduler extends Scheduler {
  /** A call forwarded by edge loop `origin`: run here, or the instance lent to `origin` (pool/leases.ts). */
  dispatch(inv: Invocation, origin: LoopId): Promise<Result | Lent>;
  /** Edge loop gives a lent instance back (`fn` its function). */
  returnLease(fn: string, instance: string, lastUsed: number, failure: TernError | undefined): void;
  /** Accepts a job: recorded durably before this returns, then run. */
  submitJob(job: AsyncJob): Promise<CallRecord>;
  /**
   * Jobs of `kind` the previous run of the node left unfinished: `adopt` gives each its job again
   * (it runs on), or undefined (its record fails as interrupted by the restart).
   */
  resumeJobs(kind: JobKind, adopt: (record: CallRecord) => AsyncJob | undefined): number;
  /** A function is deployed (node start, first deploy) or has a new version (graceful update). */
  deployed(fn: DeployedFunction): Promise<void>;
  /** A function was deleted: new calls get 404, queued ones 503, running ones finish; resolves when all stopped. */
  removed(name: string): Promise<void>;
}

const DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024;
/** After the drain window, how long shutdown waits for instances to stop and async records to land. */
const SHUTDOWN_STOP_MS = STOP_GRACE_MS + KILL_WAIT_MS + 1_000;
const SHUTDOWN_RECORDS_MS = 1_000;

const REJECT_REASONS: ReadonlySet<string> = new Set<RejectReason>([
  'queue_full',
  'queue_timeout',
  'no_capacity',
  'not_found',
  'unauthorized',
  'too_large',
  'depth_exceeded',
]);

export async function createScheduler(o: SchedulerOptions): Promise<NodeScheduler> {
  const calls = await CallTable.open({
    dir: o.calls.dir,
    retentionMs: o.calls.retentionMs,
    max: o.calls.max,
    maxBodyBytes: o.calls.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    logger: o.logger,
  });
  return new LocalScheduler(o, calls);
}

class LocalScheduler implements NodeScheduler {
  private readonly pools = new Map<string, FunctionPool>();
  /** Removed functions still finishing their calls. */
  private readonly leaving = new Set<FunctionPool>();
  private readonly budget: MemoryBudget;
  private readonly reaper = new Reaper();
  private readonly asyncRuns = new Set<Promise<void>>();
  private readonly poolDeps: Omit<PoolDeps, 'drained'>;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly o: SchedulerOptions,
    private readonly calls: CallTable,
  ) {
    this.budget = new MemoryBudget(o.memoryBudgetMiB);
    o.onBudget?.(this.budget);
    this.poolDeps = {
      nodeName: o.nodeName,
      runtimes: o.runtimes,
      budget: this.budget,
      reaper: this.reaper,
      queue: o.queue,
      scratchDir: o.scratchDir,
      telemetry: o.telemetry,
      finishCall: o.finishCall ?? noFinish,
      logSink: o.logSink,
      logger: o.logger,
      refused: (inv, reason, report) => this.refused(inv, reason, report),
      ...(o.leases ? { leases: o.leases } : {}),
    };
  }

  invoke(inv: Invocation): Promise<Result> {
    return this.route(inv, undefined, undefined) as Promise<Result>;
  }

  dispatch(inv: Invocation, origin: LoopId): Promise<Result | Lent> {
    return this.route(inv, undefined, origin);
  }

  returnLease(fn: string, instance: string, lastUsed: number, failure: TernError | undefined): void {
    const pool = this.pools.get(fn);
    pool?.returnLease(instance, lastUsed, failure);
    for (const p of this.leaving) if (p !== pool && p.name === fn) p.returnLease(instance, lastUsed, failure);
  }

  async submit(inv: Invocation): Promise<CallRecord> {
    if (this.closing) throw new TernError('unavailable', 'the node is shutting down');
    const pool = this.pools.get(inv.function);
    if (pool === undefined) throw new TernError('not_found', `no function "${inv.function}"`);
    const isPrivate = pool.version.spec.private;
    if (isPrivate && !inv.authenticated) throw privateFunction(inv.function);
    const record = await this.calls.accept(inv, isPrivate);
    const accepted = { ...record };
    const run = this.runAsync(inv);
    this.asyncRuns.add(run);
    void run.then(() => this.asyncRuns.delete(run));
    return accepted;
  }

  async submitJob(job: AsyncJob): Promise<CallRecord> {
    if (this.closing) throw new TernError('unavailable', 'the node is shutting down');
    const record = await this.calls.acceptJob(job.id, job.name, job.kind, job.private);
    const accepted = { ...record };
    this.track(this.runJob(job));
    return accepted;
  }

  resumeJobs(kind: JobKind, adopt: (record: CallRecord) => AsyncJob | undefined): number {
    let resumed = 0;
    for (const record of this.calls.takeUnfinished(kind)) {
      const job = this.closing ? undefined : adopt(record);
      if (job === undefined) {
        this.calls.interrupted(record.id);
        continue;
      }
      this.track(this.runJob(job));
      resumed++;
    }
    return resumed;
  }

  private track(run: Promise<void>): void {
    this.asyncRuns.add(run);
    void run.then(() => this.asyncRuns.delete(run));
  }

  private async runJob(job: AsyncJob): Promise<void> {
    try {
      const result = await job.run(() => this.calls.running(job.id));
      if (result === undefined) return;
      await this.calls.finishDurably(job.id, result);
      job.recorded?.();
    } catch (e) {
      this.o.logger.error(
        { event: 'calls', call: job.id, err: (e as Error).message },
        'cannot record an async job result',
      );
    }
  }

  call(id: string, authenticated: boolean): CallRecord | undefined {
    const record = this.calls.call(id);
    if (record?.private && !authenticated) {
      throw new TernError('unauthorized', `call "${id}" is of a private function: reading it needs the node token`, {
        'www-authenticate': 'Bearer',
      });
    }
    return record;
  }

  status(name: string): FunctionStatus | undefined {
    return this.pools.get(name)?.status();
  }

  capacity(): { memoryMiB: number; usedMiB: number } {
    return { memoryMiB: this.budget.capacityMiB, usedMiB: this.budget.usedMiB };
  }

  async deployed(fn: DeployedFunction): Promise<void> {
    if (this.closing) return;
    const name = fn.spec.name;
    const pool = this.pools.get(name);
    if (pool === undefined) {
      const created = new FunctionPool(fn, { ...this.poolDeps, drained: () => this.prune(name) });
      this.pools.set(name, created);
      created.prewarm();
      this.o.telemetry.functionEvent(name, 'deployed', fn.version);
      return;
    }
    if (pool.version.version === fn.version) return;
    pool.update(fn);
    this.o.telemetry.functionEvent(name, 'updated', fn.version);
  }

  async removed(name: string): Promise<void> {
    const pool = this.pools.get(name);
    if (pool === undefined) return;
    this.pools.delete(name);
    this.leaving.add(pool);
    this.o.telemetry.functionEvent(name, 'removed');
    try {
      await pool.remove();
    } finally {
      this.leaving.delete(pool);
    }
  }

  close(drainMs: number): Promise<void> {
    this.closing ??= this.shutdown(drainMs);
    return this.closing;
  }

  private async shutdown(drainMs: number): Promise<void> {
    const pools = [...this.pools.values(), ...this.leaving];
    const deadline = performance.now() + drainMs;
    await Promise.all(pools.map((p) => p.drain(deadline)));
    const stopped = await settleWithin(Promise.all(pools.map((p) => p.shutdown())), SHUTDOWN_STOP_MS);
    if (!stopped) this.o.logger.warn({ event: 'shutdown' }, 'some instances did not stop in time');
    this.reaper.close();
    await settleWithin(Promise.all(this.asyncRuns), SHUTDOWN_RECORDS_MS);
    await this.calls.close();
  }

  /** The one path of every call, sync or async, local or forwarded by an edge loop. */
  private route(
    inv: Invocation,
    onRunning: (() => void) | undefined,
    origin: LoopId | undefined,
  ): Promise<Result | Lent> {
    if (this.closing)
      return Promise.resolve(this.answerHere(inv, new TernError('unavailable', 'the node is shutting down')));
    const pool = this.pools.get(inv.function);
    if (pool === undefined)
      return Promise.resolve(this.answerHere(inv, new TernError('not_found', `no function "${inv.function}"`)));
    if (!inv.authenticated && pool.version.spec.private)
      return Promise.resolve(this.answerHere(inv, privateFunction(inv.function)));
    return origin === undefined ? pool.invoke(inv, onRunning) : pool.dispatch(inv, origin);
  }

  private async runAsync(inv: Invocation): Promise<void> {
    const result = (await this.route(inv, () => this.calls.running(inv.id), undefined)) as Result;
    try {
      this.calls.finish(inv.id, result);
    } catch (e) {
      this.o.logger.error({ event: 'calls', call: inv.id, err: (e as Error).message }, 'cannot record an async result');
    }
  }

  /** A call refused before reaching any pool. */
  private answerHere(inv: Invocation, err: TernError): Result {
    const report = emptyReport(this.o.nodeName, inv.function);
    report.totalMs = ms(performance.now() - inv.receivedAt);
    if (REJECT_REASONS.has(err.code)) this.o.telemetry.callRejected(inv.function, err.code as RejectReason);
    const result = errorResult(err, report);
    this.poolDeps.finishCall(inv, result);
    this.o.telemetry.callCompleted(inv, result);
    return result;
  }

  /** The pool would refuse: another node may take it, else the refusal stands. */
  private async refused(inv: Invocation, reason: TernError, report: Report): Promise<Result> {
    const offloader = this.o.offloader;
    if (offloader !== undefined) {
      try {
        const result = await offloader(inv, reason);
        if (result !== undefined) {
          this.o.telemetry.offloaded(inv.function, result.report.node, true);
          return result;
        }
      } catch (e) {
        this.o.logger.warn(
          { event: 'offload_failed', function: inv.function, err: (e as Error).message },
          'offloading failed',
        );
      }
    }
    if (REJECT_REASONS.has(reason.code)) this.o.telemetry.callRejected(inv.function, reason.code as RejectReason);
    return errorResult(reason, report);
  }

  private prune(name: string): void {
    this.o.registry.prune(name).catch((e: unknown) => {
      this.o.logger.warn(
        { event: 'prune_failed', function: name, err: (e as Error).message },
        `cannot prune old versions of ${name}`,
      );
    });
  }
}

const noFinish: CallFinisher = () => undefined;

/** The one refusal of a private function to a caller without the token, whatever the trigger. */
function privateFunction(name: string): TernError {
  return new TernError('unauthorized', `function "${name}" is private: call it with "Authorization: Bearer <token>"`, {
    'www-authenticate': 'Bearer',
  });
}

/** True when `work` settled within `ms`. */
function settleWithin(work: Promise<unknown>, msLimit: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), msLimit);
    timer.unref();
    work.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}
