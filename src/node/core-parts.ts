/**
 * The node's core parts, built in dependency order: the token, function logs, the host side
 * (state and chaining), the edge loops' threads, the runtimes, the registry (in etcd when
 * clustered), the scheduler with its pools, and the telemetry that observes them. Deployed
 * functions are activated here, so the node can serve them the moment it listens.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { createCluster, type ClusterNode } from '../cluster/index.js';
import type { NodeConfig } from '../config.js';
import { TelemetryBus } from '../core/telemetry.js';
import type { CallRecord, FunctionStatus } from '../core/status.js';
import { connectionTable, limitsFor, raiseOpenFileLimit, type ConnectionLimits } from '../http/connections.js';
import { LoopFleet, type FleetOptions } from '../loops/fleet.js';
import { FunctionLogs } from '../observability/function-logs.js';
import { lifecycleTelemetry } from '../observability/lifecycle.js';
import { Metrics } from '../observability/metrics.js';
import { addCallCounts, RecentCalls, type CallCounts } from '../observability/recent-calls.js';
import { DirRegistry } from '../registry/dir-store.js';
import type { Registry } from '../registry/registry.js';
import type { FunctionSpec } from '../registry/spec.js';
import { createRuntimes } from '../runtimes/index.js';
import type { Runtime, RuntimeMemory } from '../runtimes/runtime.js';
import type { MemoryBudget } from '../pool/budget.js';
import { createScheduler, type NodeScheduler } from '../scheduler/scheduler.js';
import { createHostSide, type HostSide } from '../state/index.js';
import { resolveToken } from '../token.js';
import { refuseMqttTriggers } from '../triggers/mqtt/index.js';
import { WorkflowService } from '../workflows/service.js';
import { activateFunctions } from './activation.js';
import type { Lifecycle } from './lifecycle.js';
import { RuntimeSet } from './runtime-set.js';

/** Path parameters (a function name) longer than this get the router's 414. */
export const MAX_PARAM_LENGTH = 500;
const RECENT_PER_FUNCTION = 100;

export interface Core {
  token: string;
  tokenFile: { tokenPath?: string };
  scratchDir: string;
  logs: FunctionLogs;
  host: HostSide;
  loops: LoopFleet | undefined;
  runtimes: RuntimeSet;
  /** The runtimes themselves (on the control loop), for the parts that need one's own API. */
  localRuntimes: Runtime[];
  registry: Registry;
  /** The HTTP port's connection bounds and their shared counters (http/connections.ts). */
  connections: ConnectionBounds;
  cluster: ClusterNode | undefined;
  scheduler: NodeScheduler;
  metrics: Metrics;
  statuses(): FunctionStatus[];
  recentCalls(fn: string, limit: number): Promise<CallRecord[]>;
  /** Every function's call and error counts, from every event loop. */
  callCounts(): Promise<Record<string, CallCounts>>;
  /** Resolves once the pool has caught up with the last registry change of `name`. */
  settled(name: string): Promise<void>;
  /** ASL workflows (src/workflows/). */
  workflows: WorkflowService;
}

export async function buildCore(
  config: NodeConfig,
  scratchDir: string,
  logger: Logger,
  life: Lifecycle,
  /** The node cannot go on (an edge loop ended): it should stop. */
  onFatal: (why: string) => void,
): Promise<Core> {
  const { token, path: tokenPath, created } = await resolveToken(config.token, config.dataDir);
  if (created) logger.warn({ event: 'token', path: tokenPath }, `management token created: ${tokenPath}`);
  const logs = await openFunctionLogs(config, logger, life);
  const host = await createHostSide({
    nodeName: config.node,
    dataDir: config.dataDir,
    chainDepth: config.chainDepth,
    limits: config.state,
    logger,
    ...(config.redis !== undefined ? { redis: config.redis } : {}),
  });
  life.add({ name: 'state', close: () => host.close() });
  const connections = connectionBounds(config, logger);
  const loops =
    config.http.loops > 0 ? edgeLoops(config, { token, scratchDir, logger, connections, onFatal }) : undefined;
  const memory = new LateMemory();
  const local = createRuntimes({ dataDir: config.dataDir, scratchDir, logger, host: host.services, memory }, config);
  const runtimes = life.add(new RuntimeSet(loops ? local.map((r) => loops.runtime(r)) : local, logger));
  const { registry, cluster } = await buildRegistry(config, runtimes, logger, life);
  const scheduled = await buildScheduler(config, {
    memory,
    scratchDir,
    logs,
    host,
    loops,
    runtimes,
    registry,
    cluster,
    logger,
  });
  life.add({
    name: 'scheduler',
    drain: (deadline) => scheduled.scheduler.close(Math.max(0, deadline - performance.now())),
  });
  if (loops) {
    await loops.start({
      scheduler: scheduled.scheduler,
      logSink: logs.sink,
      host: host.services,
      finishCall: (callId) => host.finishCallId(callId),
    });
    life.add({ name: 'loops', close: () => loops.close() });
  }
  const settled = await activateFunctions(config, { registry, runtimes, scheduler: scheduled.scheduler, logs, logger });
  const workflows = await buildWorkflows(config, registry, scheduled.scheduler, logger, life);
  return {
    workflows,
    token,
    tokenFile: tokenPath ? { tokenPath } : {},
    scratchDir,
    logs,
    host,
    loops,
    runtimes,
    localRuntimes: local,
    connections,
    registry,
    cluster,
    settled,
    ...scheduled,
  };
}

/** The functions' log store under <data>/logs, closed last. */
async function openFunctionLogs(config: NodeConfig, logger: Logger, life: Lifecycle): Promise<FunctionLogs> {
  const logs = new FunctionLogs({
    dir: join(config.dataDir, 'logs'),
    maxLines: config.logs.maxLines,
    onError: (err: unknown) =>
      logger.error({ event: 'log_store', err: (err as Error).message }, 'function log write failed'),
  });
  await logs.open();
  life.add({ name: 'logs', close: () => logs.close() });
  return logs;
}

function edgeLoops(
  config: NodeConfig,
  o: Pick<FleetOptions, 'token' | 'scratchDir' | 'logger' | 'connections' | 'onFatal'>,
): LoopFleet {
  return new LoopFleet({ ...o, loops: config.http.loops, config, maxNameLength: MAX_PARAM_LENGTH });
}

export interface ConnectionBounds {
  table: SharedArrayBuffer;
  limits: ConnectionLimits;
}

/** The open-file limit raised where allowed, and the connection bounds under it. */
function connectionBounds(config: NodeConfig, logger: Logger): ConnectionBounds {
  const fdLimit = raiseOpenFileLimit();
  const limits = limitsFor(fdLimit, {
    perClient: config.http.perClient,
    reserve: config.http.reserveFds,
    ...(config.http.maxConnections !== undefined ? { maxConnections: config.http.maxConnections } : {}),
  });
  logger.debug({ event: 'connections', fdLimit, ...limits }, `HTTP connections: at most ${limits.total}`);
  return { table: connectionTable(), limits };
}

async function buildRegistry(
  config: NodeConfig,
  runtimes: RuntimeSet,
  logger: Logger,
  life: Lifecycle,
): Promise<{ registry: Registry; cluster: ClusterNode | undefined }> {
  const validate = async (spec: FunctionSpec, dir: string) => {
    // A standalone node without [mqtt] refuses MQTT triggers (triggers/mqtt/absent.ts says why not in a cluster).
    if (!config.mqtt && config.cluster.etcd.length === 0) refuseMqttTriggers(spec);
    const runtime = await runtimes.require(spec);
    const pending = { spec, dir, version: 'pending', deployedAt: new Date().toISOString() };
    await runtime.prepare(pending);
    await runtime.checkLoads?.(pending);
  };
  const folderStore = new DirRegistry({
    root: join(config.dataDir, 'functions'),
    limits: config.limits,
    validate,
    logger,
  });
  // Cluster mode (src/cluster/, only with [cluster] etcd): functions shared through etcd, membership, offloading.
  const cluster = config.cluster.etcd.length > 0 ? createCluster({ config, local: folderStore, logger }) : undefined;
  const registry: Registry = cluster?.registry ?? folderStore;
  life.add({
    name: 'registry',
    close: async () => {
      await cluster?.close();
      await registry.close();
    },
  });
  return { registry, cluster };
}

interface SchedulerInputs {
  scratchDir: string;
  logs: FunctionLogs;
  host: HostSide;
  loops: LoopFleet | undefined;
  runtimes: RuntimeSet;
  registry: Registry;
  cluster: ClusterNode | undefined;
  logger: Logger;
  memory: LateMemory;
}

/** The scheduler's budget as runtimes see it; made before the scheduler (runtimes come first). */
class LateMemory implements RuntimeMemory {
  private budget: MemoryBudget | undefined;

  bind(budget: MemoryBudget): void {
    this.budget = budget;
  }

  tryReserve(mib: number): boolean {
    return this.budget?.tryReserve(mib) ?? true;
  }

  release(mib: number): void {
    this.budget?.release(mib, false);
  }
}

async function buildScheduler(config: NodeConfig, i: SchedulerInputs) {
  const { registry, logger, loops } = i;
  const telemetry = new TelemetryBus();
  const scheduler = await createScheduler({
    nodeName: config.node,
    runtimes: (name) => i.runtimes.get(name),
    registry,
    memoryBudgetMiB: config.memoryBudgetMiB,
    queue: config.queue,
    calls: { ...config.calls, dir: join(config.dataDir, 'calls'), maxBodyBytes: config.limits.bodyBytes },
    scratchDir: i.scratchDir,
    // Chained children join a call's report, and its state locks are freed, before telemetry sees it.
    finishCall: i.host.finishCall,
    telemetry,
    logSink: i.logs.sink,
    logger,
    ...(loops ? { leases: loops } : {}),
    ...(i.cluster ? { offloader: i.cluster.offloader } : {}),
    onBudget: (budget) => i.memory.bind(budget),
  });
  i.host.bind(scheduler);
  const isKnown = (fn: string) => registry.get(fn) !== undefined;
  const statuses = () => registry.list().flatMap((fn) => scheduler.status(fn.spec.name) ?? []);
  const metrics = new Metrics({
    statuses,
    capacity: () => scheduler.capacity(),
    isKnown,
    functions: () => registry.list().map((f) => ({ name: f.spec.name, runtime: f.spec.runtime, version: f.version })),
    ...(loops ? { otherLoops: () => loops.stats() } : {}),
  });
  const recent = new RecentCalls(RECENT_PER_FUNCTION, isKnown);
  // singleUse: a single-use instance's start/stop are per-call events, logged at debug (observability/lifecycle.ts).
  const lines = lifecycleTelemetry(logger, { singleUse: (fn) => registry.get(fn)?.spec.singleUse === true });
  telemetry.add(metrics, recent, lines);
  const recentCalls = async (fn: string, limit: number): Promise<CallRecord[]> => {
    const all = [...recent.list(fn, limit), ...(loops ? await loops.recentCalls(fn, limit) : [])];
    return all.sort((a, b) => (a.finishedAt! < b.finishedAt! ? 1 : -1)).slice(0, limit);
  };
  const callCounts = async (): Promise<Record<string, CallCounts>> => {
    const sum = recent.counts();
    if (loops) addCallCounts(sum, await loops.callCounts());
    return sum;
  };
  return { scheduler, metrics, statuses, recentCalls, callCounts };
}

/**
 * Workflows: definitions in <data>/workflows; async runs resume when the node listens and stop
 * where they are (journaled, resumed at the next start) before the scheduler drains.
 */
async function buildWorkflows(
  config: NodeConfig,
  registry: Registry,
  scheduler: NodeScheduler,
  logger: Logger,
  life: Lifecycle,
): Promise<WorkflowService> {
  const workflows = await WorkflowService.open({
    nodeName: config.node,
    dataDir: config.dataDir,
    limits: config.workflows,
    registry,
    scheduler,
    logger,
  });
  life.add({
    name: 'workflows',
    listen: async () => void (await workflows.resume()),
    quiesce: () => workflows.close(),
  });
  return workflows;
}
