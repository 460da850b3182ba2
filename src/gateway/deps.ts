/** What the HTTP server needs from the node. Narrow, structural types so each layer stays replaceable. */
import type { Registry, DeployedFunction } from '../registry/registry.js';
import type { FunctionStatus, Scheduler } from '../scheduler/types.js';
import type { FastifyInstance } from 'fastify';
import type { FaultLogger } from '../http/errors.js';
import type { CallRecord } from '../scheduler/types.js';
import type { LogLine, LogReader } from '../core/logs.js';
import type { NodeMember, RuntimeInfo } from '../core/node-info.js';
import type { CallCounts } from '../core/status.js';

export type { LogLine, LogReader, NodeMember, RuntimeInfo };

export interface MetricsRenderer {
  readonly contentType: string;
  render(): Promise<string>;
}

export interface GatewayDeps {
  nodeName: string;
  version: string;
  token: string;
  limits: { bodyBytes: number; archiveBytes: number };
  /**
   * The server sits behind the edge loops' proxy (src/http/proxy.ts): an early answer (a 413) keeps
   * the connection, so the edge gets it whole; the edge closes the client's connection itself.
   */
  behindLoops?: boolean;
  /** Path parameters (a function name) longer than this get the router's 414 (default 500). */
  maxParamLength?: number;
  registry: Registry;
  scheduler: Scheduler;
  runtimes: () => RuntimeInfo[];
  triggers: () => Record<string, string | undefined>;
  /** Event triggers' live state and counts (MQTT connection, schedules), by trigger name. */
  triggerStatus?: () => Record<string, unknown>;
  logs: LogReader;
  metrics: MetricsRenderer;
  nodes: () => Promise<NodeMember[]>;
  /** Resolves once the pool has caught up with the last registry change of a function. */
  settled: (name: string) => Promise<void>;
  /** The last calls of a function, newest first (sync and async alike), from every event loop. */
  recentCalls: (fn: string, limit: number) => Promise<CallRecord[]> | CallRecord[];
  /** Each function's call and error counts, from every event loop (absent: descriptions carry none). */
  callCounts?: () => Promise<Record<string, CallCounts>>;
  /** Folder served at /ui/ (absent: no dashboard). */
  uiDir?: string;
  /** The node's state store for /v1/state/{key} (src/state/); absent: no state routes. */
  state?: StateAdmin;
  /** Where 5xx answers are logged with their cause (the node's logger). */
  logger?: FaultLogger;
  /** Extra plugins (compat adapters, cluster routes) registered on the same server. */
  plugins?: ((app: FastifyInstance) => Promise<void> | void)[];
}

/** Admin access to state: the local tier of this node, or the global tier (Redis; the local one when there is none). */
export interface StateAdmin {
  get(key: string): Buffer | undefined;
  set(key: string, value: Buffer): void;
  delete(key: string): boolean;
  globalGet(key: string): Promise<Buffer | undefined>;
  globalSet(key: string, value: Buffer): Promise<void>;
  globalDelete(key: string): Promise<boolean>;
  info(): { keys: number; reservedBytes: number; global: string };
}

export interface FunctionDescription {
  name: string;
  version: string;
  deployedAt: string;
  spec: DeployedFunction['spec'];
  status: Omit<FunctionStatus, 'name'>;
  /** Calls and errors (5xx or a Tern error code): since the node started, and among the recent calls. */
  calls?: CallCounts;
}

const IDLE_STATUS: Omit<FunctionStatus, 'name'> = {
  instances: { starting: 0, idle: 0, busy: 0, total: 0 },
  queued: 0,
  invocations: 0,
  memoryMiB: 0,
};

const NO_CALLS: CallCounts = { calls: 0, errors: 0, recentCalls: 0, recentErrors: 0 };

export function describeFunction(
  fn: DeployedFunction,
  scheduler: Pick<Scheduler, 'status'>,
  counts?: Record<string, CallCounts>,
): FunctionDescription {
  const { name: _name, ...status } = scheduler.status(fn.spec.name) ?? { name: fn.spec.name, ...IDLE_STATUS };
  const description: FunctionDescription = {
    name: fn.spec.name,
    version: fn.version,
    deployedAt: fn.deployedAt,
    spec: fn.spec,
    status,
  };
  if (counts) description.calls = counts[fn.spec.name] ?? NO_CALLS;
  return description;
}
