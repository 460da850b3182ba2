/**
 * The runtime interface: mechanism only. A runtime knows how to prepare a function's code,
 * start one instance, call it and stop it. It holds no policy: the pool decides when.
 */
import type { Invocation } from '../core/invocation.js';
import type { Response } from '../core/result.js';
import type { DeployedFunction } from '../registry/registry.js';
import type { RuntimeName } from '../registry/spec.js';
import type { Logger } from 'pino';
import type { Result } from '../core/result.js';

export type LogStream = 'stdout' | 'stderr';

/** Receives a function's output, one line at a time. */
export type LogSink = (line: string, stream: LogStream, instance: string, callId?: string) => void;

export interface RuntimeProbe {
  /** Whether this runtime can run functions on this node. */
  available: boolean;
  /** Why not, or details worth showing in /v1/info (e.g. "kvm" vs "tcg"). */
  detail?: string;
}

export interface InstanceOptions {
  /** Instance id chosen by the pool; runtimes use it in logs and sandbox names. */
  id: string;
  log: LogSink;
  /** Per-node scratch folder for this instance (created and removed by the runtime). */
  scratchRoot: string;
}

export interface Instance {
  readonly id: string;
  /**
   * Run one call. Resolves with the function's response (any status the function chose).
   * Rejects with TernError: 'function_crashed' (instance died; reason in the message),
   * 'memory_exceeded', 'function_error' (trap, unhandled exception). The pool enforces the timeout
   * and calls kill(); `signal` aborts when it does.
   */
  call(inv: Invocation, signal: AbortSignal): Promise<Response>;
  /** Graceful stop: finish nothing new, release everything. Idempotent. */
  stop(): Promise<void>;
  /** Immediate stop (timeout, crash): kill processes/workers now. Idempotent. */
  kill(): Promise<void>;
  /** Register a callback for the instance dying on its own (not through stop/kill). */
  onExit(listener: (reason: string) => void): void;
}

export interface Runtime {
  readonly name: RuntimeName;
  /** Probe once at node start (bounded time). */
  probe(): Promise<RuntimeProbe>;
  /**
   * Called at deploy on the unpacked folder, before it is committed: validate and precompile.
   * Throws TernError('bad_spec') to refuse. Also called at node start for stored functions.
   */
  prepare(fn: DeployedFunction): Promise<void>;
  /** Forget cached artefacts of a version that is gone. */
  release(fn: DeployedFunction): void;
  /** Start one instance; resolves when it can take calls. */
  start(fn: DeployedFunction, options: InstanceOptions): Promise<Instance>;
  /** Stop everything this runtime owns (node shutdown). */
  close(): Promise<void>;
}

export interface RuntimeContext {
  /** Node data folder (absolute). */
  dataDir: string;
  /** Node scratch folder for temp files, removed at shutdown (absolute). */
  scratchDir: string;
  /** Structured node logger. */
  logger: Logger;
  /** Host services for state and chaining, when the node has them (issue 9). */
  host?: HostServices;
}

/** What a function can ask of the node from inside (state, chaining). Filled in by the node. */
export interface HostServices {
  /** A chained call: `fn` runs through the scheduler as a child of `parent` (depth + 1). */
  invoke(
    parent: Invocation,
    fn: string,
    body: Buffer,
    opts?: { method?: string; path?: string; headers?: Record<string, string> },
  ): Promise<Result>;
  /** Shared state (docs/state.md); absent on a node without it. */
  state?: HostState;
}

/**
 * The node's state store as runtimes see it: the local tier of this node (shared by all its
 * instances) and, with `redis` configured, the global tier through push/pull and global locks.
 * `owner` is the call id that holds a lock; the node releases a call's locks when the call ends.
 * Failures throw TernError: bad_request (key, offset), too_large, no_capacity (store full),
 * conflict (a lock not acquired in time), unavailable (the global tier is down).
 */
export interface HostState {
  get(key: string): Buffer | undefined;
  /** Up to `length` bytes from `offset`. */
  read(key: string, offset: number, length: number): Buffer | undefined;
  size(key: string): number | undefined;
  set(key: string, value: Uint8Array): void;
  /** Overwrite at `offset` (≤ current length); returns the new length. */
  write(key: string, offset: number, bytes: Uint8Array): number;
  /** Returns the new length. */
  append(key: string, bytes: Uint8Array): number;
  delete(key: string): boolean;
  lock(key: string, owner: string, global: boolean): Promise<void>;
  unlock(key: string, owner: string, global: boolean): Promise<void>;
  /** Local value -> global tier (an absent local value deletes the global one). */
  push(key: string): Promise<void>;
  /** Global value -> local tier; false (and the local value deleted) when there is none. */
  pull(key: string): Promise<boolean>;
  /** The SharedArrayBuffer holding the key's value now (layout: src/state/segment.ts), for in-place reads. */
  segment(key: string): SharedArrayBuffer | undefined;
}

export type RuntimeFactory = (ctx: RuntimeContext) => Runtime;
