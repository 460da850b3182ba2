/**
 * What the control loop and the edge loops ask of each other. The control loop (the main thread)
 * holds the registry, the scheduler and every pool; edge loops serve HTTP and host instances.
 * An instance lives on the loop that started it; the pool decides everything about it and may
 * lend it to its loop (a lease), so that calls arriving there run on it without asking.
 */
import type { CallRecord } from '../core/status.js';
import type { RuntimeName } from '../registry/spec.js';
import type { DeployedFunction } from '../registry/registry.js';
import type { WireInvocation, WireResponse, WireResult } from './wire.js';

import type { FirstCall, LeaseGrant, LoopId } from '../pool/leases.js';

export type { FirstCall, LeaseGrant, LoopId };

export type DispatchAnswer = { result: WireResult } | { lease: LeaseGrant; first: FirstCall };

export interface LeaseReturn {
  fn: string;
  instance: string;
  /** Epoch ms of its last finished call. */
  lastUsedEpoch: number;
  /** A call on it failed so that it must not be trusted again (timeout, crash). */
  failure?: { code: 'function_crashed' | 'memory_exceeded' | 'timeout' | 'internal'; message: string };
}

/** Handled by the control loop. */
export interface ControlApi {
  [method: string]: (arg: never) => unknown;
  /** A call that found no lease of its function on the edge: run it or lend an instance. */
  dispatch(a: { inv: WireInvocation; origin: LoopId }): Promise<DispatchAnswer>;
  /** An async call (journaled here). */
  submit(a: { inv: WireInvocation }): Promise<CallRecord>;
  returnLease(a: LeaseReturn): void;
  /** An instance died on its own. */
  exited(a: { instance: string; reason: string }): void;
  logs(a: { lines: LogLineTuple[] }): void;
  /** A host request (state, chaining) from a sandboxed instance on an edge. */
  hostOp(a: HostOpRequest): Promise<HostOpAnswer>;
  /** The end-of-call bookkeeping of a call that used host services; returns its chained children. */
  finishCall(a: { callId: string }): Promise<{ children?: unknown[] }>;
  /** The HTTP port an edge bound (the first edge binds, the others share its socket). */
  bound(a: { port: number; fd: number }): void;
}

/** Handled by an edge loop. */
export interface EdgeApi {
  [method: string]: (arg: never) => unknown;
  start(a: { fn: DeployedFunction; runtime: RuntimeName; instance: string }): Promise<void>;
  call(a: { instance: string; inv: WireInvocation }): Promise<WireResponse>;
  stop(a: { instance: string }): Promise<void>;
  kill(a: { instance: string }): Promise<void>;
  release(a: { fn: DeployedFunction }): void;
  /** Give the lease back as soon as no call runs on it. */
  revoke(a: { instance: string }): void;
  /** Accept connections on the shared socket (fd), or bind it (fd = -1). */
  listen(a: { fd: number; host: string; port: number }): Promise<void>;
  /** Stop accepting connections; new requests on open ones go to the control loop (which answers 503). */
  quiesce(): Promise<void>;
  /** Close every connection (the calls have drained). */
  closeConnections(): Promise<void>;
  /** Stop every instance and runtime left; the worker may then end. */
  close(): Promise<void>;
  /** Call counters and durations since the last collection (merged into /metrics). */
  collectStats(): Promise<unknown>;
  recentCalls(a: { fn: string; limit: number }): Promise<unknown[]>;
  /** Each function's call and error counts on this loop (observability/recent-calls.ts CallCounts). */
  callCounts(): Promise<unknown>;
}

export type LogLineTuple = [line: string, stream: 'stdout' | 'stderr', instance: string, callId: string | undefined];

export interface HostOpRequest {
  instance: string;
  parent: WireInvocation;
  op: string | undefined;
  args: Record<string, unknown>;
  body: Uint8Array;
}

export interface HostOpAnswer {
  header: Record<string, unknown>;
  body?: Uint8Array;
}
