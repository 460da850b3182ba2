/**
 * One Tern node, wired from its config: registry -> scheduler/pool -> runtimes, the HTTP server
 * (native API + HTTP trigger), the other triggers, observability. `startNode` returns a handle whose
 * `stop()` drains calls and leaves no process, temp folder or socket behind.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { NodeConfig } from './config.js';
import { TernError } from './core/errors.js';
import { combineTelemetry } from './core/telemetry.js';
import { buildServer } from './gateway/server.js';
import type { NodeMember, RuntimeInfo } from './gateway/deps.js';
import { FunctionLogs } from './observability/function-logs.js';
import { createNodeLogger } from './observability/logger.js';
import { Metrics } from './observability/metrics.js';
import { RecentCalls } from './observability/recent-calls.js';
import { lifecycleTelemetry } from './observability/lifecycle.js';
import { DirRegistry, loadRegistryFolder } from './registry/dir-store.js';
import { createCluster } from './cluster/index.js';
import type { DeployedFunction, Registry } from './registry/registry.js';
import type { FunctionSpec, RuntimeName } from './registry/spec.js';
import { createRuntimes } from './runtimes/index.js';
import { createHostSide } from './state/index.js';
import type { Runtime, RuntimeProbe } from './runtimes/runtime.js';
import { createScheduler } from './scheduler/scheduler.js';
import { startCompat } from './compat/server.js';
import { openfaasProfile } from './compat/openfaas/index.js';
import { unifaasProfile } from './compat/unifaas/index.js';
import { faasmProfile } from './compat/faasm/index.js';
import { serverledgeProfile } from './compat/serverledge/index.js';
import { tinyfaasProfile } from './compat/tinyfaas/index.js';
import { createCoapTrigger } from './triggers/coap/index.js';
import { createGrpcTrigger } from './triggers/grpc/index.js';
import type { Trigger, TriggerContext } from './triggers/trigger.js';
import { resolveToken } from './token.js';
import { claimScratch, type Scratch } from './scratch.js';
import { PROJECT_ROOT, VERSION } from './version.js';
import type { FunctionStatus } from './scheduler/types.js';
import { WorkflowService } from './workflows/service.js';
import { workflowRoutes } from './workflows/routes.js';

export interface TernNode {
  readonly config: NodeConfig;
  readonly url: string;
  readonly token: string;
  readonly tokenPath?: string;
  readonly logger: Logger;
  stop(): Promise<void>;
}

/** Runtimes probe in the background so a slow probe (a test VM boot) never delays serving. */
class RuntimeSet {
  private readonly byName = new Map<RuntimeName, Runtime>();
  private readonly probes = new Map<RuntimeName, Promise<RuntimeProbe>>();
  private readonly results = new Map<RuntimeName, RuntimeProbe>();

  constructor(runtimes: Runtime[], logger: Logger) {
    for (const runtime of runtimes) {
      this.byName.set(runtime.name, runtime);
      const probe = runtime
        .probe()
        .catch((e: unknown): RuntimeProbe => ({ available: false, detail: (e as Error).message }));
      this.probes.set(runtime.name, probe);
      void probe.then((result) => {
        this.results.set(runtime.name, result);
        logger.info(
          { event: 'runtime', runtime: runtime.name, ...result },
          `runtime ${runtime.name} ${result.available ? 'available' : 'unavailable'}`,
        );
      });
    }
  }

  get(name: RuntimeName): Runtime | undefined {
    return this.byName.get(name);
  }

  info(): RuntimeInfo[] {
    return [...this.byName.keys()].map((name) => {
      const r = this.results.get(name);
      return r
        ? { name, available: r.available, ...(r.detail ? { detail: r.detail } : {}) }
        : { name, available: false, detail: 'probing' };
    });
  }

  /** The runtime for a spec, once its probe says it can run here; else a 400 naming why. */
  async require(spec: FunctionSpec): Promise<Runtime> {
    const runtime = this.byName.get(spec.runtime);
    const probe = await this.probes.get(spec.runtime);
    if (!runtime || !probe?.available) {
      throw new TernError(
        'bad_spec',
        `runtime: "${spec.runtime}" is not available on this node${probe?.detail ? ` (${probe.detail})` : ''}`,
      );
    }
    return runtime;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.byName.values()].map((r) => r.close()));
  }
}

export async function startNode(config: NodeConfig): Promise<TernNode> {
  await mkdir(config.dataDir, { recursive: true });
  // Scratch folder (src/scratch.ts): this data folder's stale ones are swept; a failed start removes its own.
  const scratch = await claimScratch(config.dataDir);
  return startWithScratch(config, scratch).catch(async (e: unknown) => {
    await scratch.abandon();
    throw e;
  });
}

async function startWithScratch(config: NodeConfig, scratch: Scratch): Promise<TernNode> {
  const logger = createNodeLogger(config.logLevel, config.node);
  const scratchDir = scratch.dir;
  if (scratch.swept.length > 0)
    logger.info({ event: 'scratch_swept', folders: scratch.swept }, 'removed stale scratch of a node that crashed');
  const { token, path: tokenPath, created } = await resolveToken(config.token, config.dataDir);
  if (created) logger.warn({ event: 'token', path: tokenPath }, `management token created: ${tokenPath}`);

  const logs = new FunctionLogs({
    dir: join(config.dataDir, 'logs'),
    maxLines: config.logs.maxLines,
    onError: (err: unknown) =>
      logger.error({ event: 'log_store', err: (err as Error).message }, 'function log write failed'),
  });
  await logs.open();

  // State and chaining (src/state/): host services the runtimes hand to functions; chained calls are bound to the scheduler below.
  const hostSide = await createHostSide({
    nodeName: config.node,
    dataDir: config.dataDir,
    chainDepth: config.chainDepth,
    limits: config.state,
    logger,
    ...(config.redis !== undefined ? { redis: config.redis } : {}),
  });
  const runtimes = new RuntimeSet(
    createRuntimes({ dataDir: config.dataDir, scratchDir, logger, host: hostSide.services }, config),
    logger,
  );
  const validate = async (spec: FunctionSpec, dir: string) => {
    const runtime = await runtimes.require(spec);
    await runtime.prepare({ spec, dir, version: 'pending', deployedAt: new Date().toISOString() });
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

  let statuses: () => FunctionStatus[] = () => [];
  let capacity = () => ({ memoryMiB: config.memoryBudgetMiB, usedMiB: 0 });
  const metrics = new Metrics({
    statuses: () => statuses(),
    capacity: () => capacity(),
    isKnown: (fn) => registry.get(fn) !== undefined,
    functions: () => registry.list().map((f) => ({ name: f.spec.name, runtime: f.spec.runtime, version: f.version })),
  });

  const recentCalls = new RecentCalls(100, (fn) => registry.get(fn) !== undefined);
  const scheduler = await createScheduler({
    nodeName: config.node,
    runtimes: (name) => runtimes.get(name),
    registry,
    memoryBudgetMiB: config.memoryBudgetMiB,
    queue: config.queue,
    calls: { ...config.calls, dir: join(config.dataDir, 'calls'), maxBodyBytes: config.limits.bodyBytes },
    scratchDir,
    // Chained children join a call's report, and its state locks are freed, before telemetry sees it.
    finishCall: hostSide.finishCall,
    // singleUse: a single-use instance's start/stop are per-call events, logged at debug (observability/lifecycle.ts).
    telemetry: combineTelemetry(
      metrics,
      recentCalls,
      lifecycleTelemetry(logger, { singleUse: (fn) => registry.get(fn)?.spec.singleUse === true }),
    ),
    logSink: logs.sink,
    logger,
    ...(cluster ? { offloader: cluster.offloader } : {}),
  });
  statuses = () => registry.list().flatMap((fn) => scheduler.status(fn.spec.name) ?? []);
  // Workflows (src/workflows/): ASL definitions in <data>/workflows; async runs journaled and resumed after a restart.
  const workflows = await WorkflowService.open({
    ...config,
    limits: config.workflows,
    nodeName: config.node,
    registry,
    scheduler,
    logger,
  });
  hostSide.bind(scheduler);
  capacity = () => scheduler.capacity();

  const activate = async (fn: DeployedFunction) => {
    try {
      const runtime = await runtimes.require(fn.spec);
      await runtime.prepare(fn);
      await scheduler.deployed(fn);
    } catch (e) {
      logger.error(
        { event: 'activate_failed', function: fn.spec.name, err: (e as Error).message },
        `function ${fn.spec.name} cannot run here`,
      );
    }
  };
  // Registry changes (from this node's API or, in a cluster, from peers) reach the pool here;
  // `settled(name)` lets the API answer a deploy or delete only once the pool has caught up.
  const pending = new Map<string, Promise<void>>();
  const track = (name: string, work: Promise<void>) => {
    const done = work.finally(() => {
      if (pending.get(name) === done) pending.delete(name);
    });
    pending.set(name, done);
  };
  registry.subscribe((event) => {
    if (event.type === 'deployed') {
      // An identical redeploy changes nothing: the running instances already serve this version.
      if (event.previous?.version === event.fn.version) return;
      track(event.fn.spec.name, activate(event.fn));
    } else {
      track(
        event.name,
        scheduler
          .removed(event.name)
          .then(() => Promise.all([registry.prune(event.name), logs.remove(event.name)]))
          .then(() => undefined),
      );
    }
  });
  const settled = async (name: string) => {
    await pending.get(name);
  };

  await registry.open();
  await Promise.all(registry.list().map(activate));
  if (config.registryDir) {
    const { loaded, failed } = await loadRegistryFolder(registry, config.registryDir, logger);
    logger.info(
      { event: 'registry_folder', folder: config.registryDir, loaded, failed },
      `loaded ${loaded.length} function(s) from ${config.registryDir}`,
    );
  }

  // The bound URL (port 0 picks a free port), known once the server listens.
  let url = `http://${config.host}:${config.port}`;
  const triggers: Trigger[] = [];
  if (config.coap) triggers.push(createCoapTrigger({ port: config.coapPort, host: config.host }));
  if (config.grpc) triggers.push(createGrpcTrigger({ port: config.grpcPort, host: config.host }));

  const selfMember = (): NodeMember => {
    const cap = scheduler.capacity();
    const all = statuses();
    return {
      name: config.node,
      role: config.cluster.role,
      area: config.cluster.area,
      url: config.cluster.advertise ?? url,
      load: {
        freeMemoryMiB: cap.memoryMiB - cap.usedMiB,
        queued: all.reduce((n, s) => n + s.queued, 0),
        warm: all.filter((s) => s.instances.total > 0).length,
      },
      self: true,
    };
  };

  const app = await buildServer({
    nodeName: config.node,
    version: VERSION,
    token,
    limits: config.limits,
    registry,
    scheduler,
    runtimes: () => runtimes.info(),
    triggers: () => Object.fromEntries([['http', url], ...triggers.map((t) => [t.name, t.address()])]),
    logs,
    metrics,
    nodes: cluster ? () => cluster.nodes() : async () => [selfMember()],
    plugins: [workflowRoutes({ workflows }), ...(cluster ? [cluster.routes(scheduler)] : [])],
    recentCalls: (fn, limit) => recentCalls.list(fn, limit),
    settled,
    uiDir: join(PROJECT_ROOT, 'ui'),
    state: hostSide.state,
  });
  await workflows.resume();
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  url = `http://${config.host}:${port}`;
  cluster?.start({ url, scheduler });

  const triggerCtx: TriggerContext = {
    invoke: (inv) => scheduler.invoke(inv),
    registry,
    nodeName: config.node,
    logger,
    maxBodyBytes: config.limits.bodyBytes,
  };
  for (const trigger of triggers) await trigger.start(triggerCtx);
  // Compatibility APIs (src/compat/): a listener per enabled [compat.<system>] profile.
  const compat = await startCompat(
    [openfaasProfile, unifaasProfile, faasmProfile, serverledgeProfile, tinyfaasProfile],
    config.compat,
    config.host,
    {
      nodeName: config.node,
      version: VERSION,
      scheduler,
      registry,
      logs,
      token,
      limits: config.limits,
      dataDir: config.dataDir,
      scratchDir,
      settled,
      logger,
      workflows,
      runtimes: () => runtimes.info(),
      // tinyFaaS's upload reply names the CoAP and gRPC endpoints.
      triggers: () => Object.fromEntries(triggers.map((t) => [t.name, t.address()])),
    },
  );
  logger.info(
    { event: 'serving', url, scratch: scratchDir, triggers: triggers.map((t) => t.address()) },
    `tern node ${config.node} serving on ${url}`,
  );

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info({ event: 'stopping' }, 'stopping: draining calls');
      // Leave the cluster first: peers stop routing calls here while this node drains.
      await cluster?.leave();
      await workflows.close();
      const closingHttp = app.close();
      await Promise.allSettled(triggers.map((t) => t.stop()));
      await Promise.allSettled(compat.map((c) => c.close()));
      await scheduler.close(config.drainTimeoutMs);
      // Every call has its answer now; keep-alive connections would otherwise hold the server open.
      app.server.closeAllConnections();
      await closingHttp;
      await runtimes.close();
      await cluster?.close();
      await registry.close();
      await logs.close();
      await hostSide.close();
      await scratch.remove();
      logger.info({ event: 'stopped' }, 'stopped');
    })());

  return { config: { ...config, port }, url, token, ...(tokenPath ? { tokenPath } : {}), logger, stop };
}
