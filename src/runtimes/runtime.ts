/**
 * The runtime interface: mechanism only. A runtime knows how to prepare a function's code,
 * start one instance, call it and stop it. It holds no policy: the pool decides when.
 */
import type { HostServices } from '../core/host.js';
import type { Invocation } from '../core/invocation.js';
import type { LogSink } from '../core/logs.js';
import type { Response } from '../core/result.js';
import type { DeployedFunction } from '../registry/registry.js';
import type { RuntimeName } from '../registry/spec.js';
import type { Logger } from 'pino';

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
  /** The loop whose call caused this start: the instance should live there if it can. */
  placement?: number;
}

export interface Instance {
  readonly id: string;
  /** The event loop it lives on when that is not the control loop (src/loops/): 1..N. */
  readonly home?: number;
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
  /**
   * Every call already runs in a fresh sandbox of its own (wasm: a new WebAssembly instance, fresh
   * memory), so `single-use` needs no new instance per call: an instance is a warm execution context.
   */
  readonly freshPerCall?: boolean;
  /** Where its instances live: any event loop (the default), or only the control loop (src/loops/). */
  hostedOn?(fn: DeployedFunction): 'loops' | 'control';
  /** Probe once at node start (bounded time). */
  probe(): Promise<RuntimeProbe>;
  /**
   * Called at deploy on the unpacked folder, before it is committed: validate and precompile.
   * Throws TernError('bad_spec') to refuse. Also called at node start for stored functions.
   */
  prepare(fn: DeployedFunction): Promise<void>;
  /**
   * Called at deploy after prepare, before the commit (never at node start): load the code once
   * in its sandbox, bounded in time, and throw TernError('bad_spec') naming the file and line
   * when it cannot load. Absent: the runtime has nothing to load ahead.
   */
  checkLoads?(fn: DeployedFunction): Promise<void>;
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
  /** The share of the machine's cores this event loop's worker threads may use (default 1: all). */
  coreShare?: number;
  /**
   * Where a sandboxed instance's host requests go, when not to `host` on this loop (an edge loop
   * sends them to the control loop: src/loops/edge/host.ts).
   */
  hostOps?: (instance: string) => HostOpsServer;
  /**
   * The node's memory budget, for what a runtime keeps beside its instances (a python zygote
   * holds one instance's worth). Absent: nothing is counted (tests, benches).
   */
  memory?: RuntimeMemory;
}

export interface RuntimeMemory {
  /** Reserve without evicting anything; false when the budget has no room. */
  tryReserve(mib: number): boolean;
  release(mib: number): void;
}

/** Serves the host requests of one sandboxed instance (state, chaining) as the shims frame them. */
export interface HostOpsServer {
  serve(
    parent: Invocation,
    op: string | undefined,
    args: Record<string, unknown>,
    body: Buffer,
  ): Promise<{ header: Record<string, unknown>; body?: Buffer }>;
  /** The call ended: pending async children of it are no longer awaited. */
  forget(callId: string): void;
}

export type { HostServices, HostState } from '../core/host.js';
export type { LogSink, LogStream } from '../core/logs.js';

export type RuntimeFactory = (ctx: RuntimeContext) => Runtime;
