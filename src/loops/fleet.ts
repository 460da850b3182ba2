/**
 * The node's edge loops, as the control loop owns them: it starts the worker threads, has the
 * first one bind the HTTP port and the others accept on the same socket, places instances on
 * them, asks lent instances back, answers their requests (forwarded calls, async submits, lease
 * returns, host requests, log lines) and gathers their call statistics for /metrics and
 * recent calls.
 *
 * The loops accept on one listening descriptor (Node 20 has neither reusePort nor a way to dup a
 * descriptor), and a thread's end closes every handle it holds: a loop that ends takes the port
 * down for all. So a loop is not restarted in place: the node is told (onFatal) and stops cleanly,
 * for its supervisor to start it again. Loops catch their own uncaught errors, so this is the
 * last resort (a worker killed for memory, a bug in the runtime).
 */
import { join } from 'node:path';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.js';
import { TernError } from '../core/errors.js';
import type { HostServices } from '../core/host.js';
import type { ConnectionLimits } from '../http/connections.js';
import type { LogSink } from '../core/logs.js';
import type { CallRecord } from '../core/status.js';
import type { MetricJson } from '../observability/call-stats.js';
import { LeaseCounters, type LeaseHost, type LoopId } from '../pool/leases.js';
import { HostOps } from '../runtimes/process/host-ops.js';
import type { Runtime } from '../runtimes/runtime.js';
import type { NodeScheduler } from '../scheduler/scheduler.js';
import { Channel } from './channel.js';
import type { EdgeInit } from './edge/main.js';
import type { ControlApi, EdgeApi, HostOpAnswer, HostOpRequest } from './protocol.js';
import { LoopRuntime, type RemoteInstance, type EdgeLink, type Placement } from './remote.js';
import { fromEpoch, invocationFromWire, resultToWire } from './wire.js';
import { addCallCounts, type CallCounts } from '../observability/recent-calls.js';

const EDGE_URL = new URL('./edge/main.js', import.meta.url);

export interface FleetOptions {
  loops: number;
  config: NodeConfig;
  token: string;
  scratchDir: string;
  logger: Logger;
  maxNameLength: number;
  connections: { table: SharedArrayBuffer; limits: ConnectionLimits };
  /** A loop ended while the node was not closing: the node cannot serve HTTP any more. */
  onFatal: (why: string) => void;
}

/** What the edge loops are served with: the control loop's scheduler and host side. */
export interface ControlPlane {
  scheduler: NodeScheduler;
  logSink: LogSink;
  host?: HostServices;
  /** End-of-call bookkeeping of a call that used host services: its chained children. */
  finishCall(callId: string): unknown[] | undefined;
}

interface Loop extends EdgeLink {
  worker: Worker;
  channel: Channel<ControlApi, EdgeApi>;
}

export class LoopFleet implements LeaseHost, Placement {
  readonly counters = new LeaseCounters();
  /** The control loop's private HTTP socket, where edge loops hand requests they do not serve. */
  readonly apiSocket: string;
  private readonly loops = new Map<LoopId, Loop>();
  private readonly remotes = new Map<string, RemoteInstance>();
  private readonly hostOps = new Map<string, HostOps>();
  private next = 0;
  private onBound: ((bound: { port: number; fd: number }) => void) | undefined;
  private closing = false;
  private control: ControlPlane | undefined;

  constructor(private readonly o: FleetOptions) {
    this.apiSocket = join(o.scratchDir, 'api.sock');
  }

  get size(): number {
    return this.o.loops;
  }

  /** The runtime as the pool should see it: instances placed on loops (or the runtime itself with no loops). */
  runtime(local: Runtime): Runtime {
    return this.o.loops === 0 ? local : new LoopRuntime(local, this);
  }

  /** Start the loops' threads (not yet listening). */
  async start(control: ControlPlane): Promise<void> {
    this.control = control;
    for (let id = 1; id <= this.o.loops; id++) this.spawn(id);
  }

  /** Bind the HTTP port on the first loop and share its socket with the others; resolves with the port. */
  async listen(host: string, port: number): Promise<number> {
    const first = this.loops.get(1)!;
    const bound = new Promise<{ port: number; fd: number }>((resolve) => (this.onBound = resolve));
    await first.channel.call('listen', { fd: -1, host, port });
    const { port: actual, fd } = await bound;

    for (const loop of this.loops.values()) if (loop.id !== 1) await loop.channel.call('listen', { fd, host, port });
    return actual;
  }

  revoke(loop: LoopId, instance: string): void {
    this.loops.get(loop)?.channel.notify('revoke', { instance });
  }

  pick(hint: LoopId | undefined): EdgeLink {
    if (hint !== undefined && hint !== 0) {
      const loop = this.loops.get(hint);
      if (loop !== undefined) return loop;
    }
    for (let tries = 0; tries < this.o.loops; tries++) {
      this.next = (this.next % this.o.loops) + 1;
      const loop = this.loops.get(this.next);
      if (loop !== undefined) return loop;
    }
    throw new TernError('unavailable', 'no edge loop is running (the node is stopping)');
  }

  all(): EdgeLink[] {
    return [...this.loops.values()];
  }

  track(instance: RemoteInstance): void {
    this.remotes.set(instance.id, instance);
  }

  forget(instance: string): void {
    this.remotes.delete(instance);
    this.hostOps.delete(instance);
  }

  /** The per-call series of every loop (merged into /metrics). */
  async stats(): Promise<MetricJson[][]> {
    const all = await Promise.allSettled(
      [...this.loops.values()].map((l) => l.channel.call('collectStats', {} as never)),
    );
    return all.flatMap((r) => (r.status === 'fulfilled' ? [r.value as MetricJson[]] : []));
  }

  /** Call and error counts of the calls completed on the loops, summed per function. */
  async callCounts(): Promise<Record<string, CallCounts>> {
    const all = await Promise.allSettled(
      [...this.loops.values()].map((l) => l.channel.call('callCounts', {} as never)),
    );
    const sum: Record<string, CallCounts> = {};
    for (const r of all) if (r.status === 'fulfilled') addCallCounts(sum, r.value as Record<string, CallCounts>);
    return sum;
  }

  /** Recent calls of `fn` completed on the loops. */
  async recentCalls(fn: string, limit: number): Promise<CallRecord[]> {
    const all = await Promise.allSettled(
      [...this.loops.values()].map((l) => l.channel.call('recentCalls', { fn, limit })),
    );
    return all.flatMap((r) => (r.status === 'fulfilled' ? (r.value as CallRecord[]) : []));
  }

  /** Stop accepting connections (the pools then drain the calls and ask their leases back). */
  async quiesce(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.loops.values()].map((l) => l.channel.call('quiesce', {} as never)));
  }

  /** Drop the connections left open (every call has its answer by now). */
  async closeConnections(): Promise<void> {
    await Promise.allSettled([...this.loops.values()].map((l) => l.channel.call('closeConnections', {} as never)));
  }

  /** Close every connection and runtime on the loops, then end their threads. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled(
      [...this.loops.values()].map(async (l) => {
        await l.channel.call('close', {} as never).catch(() => undefined);
        l.channel.close(new TernError('unavailable', 'the node is shutting down'));
        await l.worker.terminate();
      }),
    );
    this.loops.clear();
  }

  private spawn(id: LoopId): void {
    const { port1, port2 } = new MessageChannel();
    const init: EdgeInit = {
      loop: id,
      config: this.o.config,
      token: this.o.token,
      scratchDir: this.o.scratchDir,
      apiSocket: this.apiSocket,
      counters: this.counters.buffer,
      port: port2,
      maxNameLength: this.o.maxNameLength,
      connections: this.o.connections,
    };
    const worker = new Worker(EDGE_URL, { workerData: init, transferList: [port2] });
    const channel = new Channel<ControlApi, EdgeApi>(port1);
    const loop: Loop = { id, worker, channel };
    this.loops.set(id, loop);
    channel.serve(this.handlers(loop));
    worker.on('error', (e) =>
      this.o.logger.error({ event: 'loop_failed', loop: id, err: e.message }, `edge loop ${id} failed`),
    );
    worker.on('exit', (code) => this.exited(loop, code));
  }

  /** A loop ended: what lived there is gone, and so is the listening socket (see the file's comment). */
  private exited(loop: Loop, code: number): void {
    loop.channel.close(new TernError('function_crashed', `edge loop ${loop.id} ended`));
    for (const remote of [...this.remotes.values()])
      if (remote.home === loop.id) remote.exited(`edge loop ${loop.id} ended`);
    if (this.closing || this.loops.get(loop.id) !== loop) return;
    this.loops.delete(loop.id);
    const why = `edge loop ${loop.id} ended (exit code ${code}): the HTTP port it shared with the other loops is closed`;
    this.o.logger.fatal({ event: 'loop_exit', loop: loop.id, code }, why);
    this.o.onFatal(why);
  }

  private handlers(loop: Loop): ControlApi {
    const control = this.control!;
    const { scheduler } = control;
    return {
      dispatch: async ({ inv, origin }) => {
        const answer = await scheduler.dispatch(invocationFromWire(inv), origin);
        return 'lease' in answer ? answer : { result: resultToWire(answer) };
      },
      submit: ({ inv }) => scheduler.submit(invocationFromWire(inv)),
      returnLease: (r) =>
        scheduler.returnLease(
          r.fn,
          r.instance,
          fromEpoch(r.lastUsedEpoch),
          r.failure ? new TernError(r.failure.code, r.failure.message) : undefined,
        ),
      exited: ({ instance, reason }) => this.remotes.get(instance)?.exited(reason),
      logs: ({ lines }) => {
        for (const [line, stream, instance, callId] of lines) control.logSink(line, stream, instance, callId);
      },
      hostOp: (r) => this.hostOp(r),
      finishCall: async ({ callId }) => {
        const children = control.finishCall(callId);
        return children === undefined ? {} : { children };
      },
      bound: (b) => {
        if (loop.id === 1) this.onBound?.(b);
      },
    };
  }

  private async hostOp(r: HostOpRequest): Promise<HostOpAnswer> {
    let ops = this.hostOps.get(r.instance);
    if (ops === undefined) this.hostOps.set(r.instance, (ops = new HostOps(this.control!.host)));
    const body = Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
    const answer = await ops.serve(invocationFromWire(r.parent), r.op, r.args, body);
    return answer.body === undefined
      ? { header: answer.header }
      : { header: answer.header, body: new Uint8Array(answer.body) };
  }
}
