/**
 * The node's doors, built once the core is: the control loop's HTTP server (native API,
 * dashboard, node-to-node routes), the HTTP trigger on the node's port, CoAP and gRPC, the compat
 * listeners, and cluster membership last — so that it joins after everything listens and leaves
 * before anything stops.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { startCompat, type RunningCompat } from '../compat/server.js';
import { faasmProfile } from '../compat/faasm/index.js';
import { openfaasProfile } from '../compat/openfaas/index.js';
import { serverledgeProfile } from '../compat/serverledge/index.js';
import { tinyfaasProfile } from '../compat/tinyfaas/index.js';
import { unifaasProfile } from '../compat/unifaas/index.js';
import type { NodeConfig } from '../config.js';
import type { NodeMember } from '../core/node-info.js';
import { buildServer } from '../gateway/server.js';
import { createCoapTrigger } from '../triggers/coap/index.js';
import { ContainerRuntime, DEFAULT_IMAGE_LIMITS } from '../runtimes/container/runtime.js';
import { imageRoutes } from '../runtimes/container/image-routes.js';
import { createGrpcTrigger } from '../triggers/grpc/index.js';
import { createMqttTrigger, mqttWithoutBroker } from '../triggers/mqtt/index.js';
import { createScheduleTrigger } from '../triggers/schedule/index.js';
import { createHttpTrigger, type HttpTrigger } from '../triggers/http/index.js';
import type { Trigger, TriggerContext } from '../triggers/trigger.js';
import { PROJECT_ROOT, VERSION } from '../version.js';
import { workflowRoutes } from '../workflows/routes.js';
import { MAX_PARAM_LENGTH, type Core } from './core-parts.js';
import type { Lifecycle } from './lifecycle.js';

export interface Edges {
  http: HttpTrigger;
  /** Where each trigger listens (for the start-up line). */
  addresses(): (string | undefined)[];
}

export async function buildEdges(config: NodeConfig, core: Core, logger: Logger, life: Lifecycle): Promise<Edges> {
  const others: Trigger[] = [];
  if (config.coap) others.push(createCoapTrigger({ port: config.coapPort, host: config.host }));
  if (config.grpc) others.push(createGrpcTrigger({ port: config.grpcPort, host: config.host }));
  // Event triggers: MQTT (with [mqtt]) and schedules (claimed through etcd in a cluster); see docs/triggers.md.
  const { node: nodeName, dataDir, drainTimeoutMs: drainMs } = config;
  const metricsRegistry = core.metrics.register;
  others.push(
    config.mqtt
      ? createMqttTrigger({ config: config.mqtt, nodeName, dataDir, drainMs, metrics: metricsRegistry })
      : mqttWithoutBroker(),
    createScheduleTrigger({ nodeName, dataDir, etcd: config.cluster.etcd, metrics: metricsRegistry }),
  );
  const triggerAddresses = () => Object.fromEntries(others.map((t) => [t.name, t.address()]));
  const api = await buildServer({
    nodeName: config.node,
    version: VERSION,
    token: core.token,
    limits: config.limits,
    maxParamLength: MAX_PARAM_LENGTH,
    behindLoops: core.loops !== undefined,
    registry: core.registry,
    scheduler: core.scheduler,
    runtimes: () => core.runtimes.info(),
    triggers: () => ({ http: http.url(), ...triggerAddresses() }),
    triggerStatus: () => Object.fromEntries(others.flatMap((t) => (t.status ? [[t.name, t.status()]] : []))),
    logs: core.logs,
    metrics: core.metrics,
    nodes: core.cluster ? () => core.cluster!.nodes() : async () => [selfMember(config, core, http.url())],
    plugins: nativePlugins(core),
    recentCalls: (fn, limit) => core.recentCalls(fn, limit),
    callCounts: () => core.callCounts(),
    settled: core.settled,
    uiDir: join(PROJECT_ROOT, 'ui'),
    state: core.host.state,
    logger,
  });
  const http = createHttpTrigger({
    host: config.host,
    port: config.port,
    api,
    loops: core.loops,
    connections: core.connections,
  });
  const ctx: TriggerContext = {
    invoke: (inv) => core.scheduler.invoke(inv),
    registry: core.registry,
    nodeName: config.node,
    logger,
    maxBodyBytes: config.limits.bodyBytes,
  };
  for (const trigger of [http, ...others]) {
    life.add({
      name: `trigger ${trigger.name}`,
      listen: () => trigger.start(ctx).catch((e: unknown) => Promise.reject(explainPortInUse(trigger.name, e))),
      quiesce: () => trigger.stop(),
      close: async () => trigger.close?.(),
    });
  }
  addCompat(config, core, logger, life, triggerAddresses);
  const cluster = core.cluster;
  if (cluster) {
    life.add({
      name: 'cluster membership',
      listen: async () => cluster.start({ url: http.url(), scheduler: core.scheduler }),
      // Peers stop routing calls here while this node drains.
      quiesce: () => cluster.leave(),
    });
  }
  return { http, addresses: () => [http.url(), ...others.map((t) => t.address())] };
}

/** The setting that moves each listener's port, named when the port is taken. */
const PORT_SETTING: Record<string, string> = {
  http: '--port (TERN_PORT, port in the config file)',
  coap: '--coap-port (TERN_COAP_PORT, coap-port in the config file)',
  grpc: '--grpc-port (TERN_GRPC_PORT, grpc-port in the config file; -1 turns gRPC off)',
};

/** A listener's EADDRINUSE as a message that says which setting to change (a second node on one machine). */
export function explainPortInUse(listener: string, e: unknown): unknown {
  const setting = PORT_SETTING[listener];
  const message = e instanceof Error ? e.message : String(e);
  const inUse = (e as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE' || message.includes('EADDRINUSE');
  if (setting === undefined || !inUse) return e;
  const what = message.startsWith(`${listener}:`) ? message : `${listener}: ${message}`;
  return new Error(`${what}: the port is taken (another node on this machine?); choose another with ${setting}`, {
    cause: e,
  });
}

/** Compatibility APIs (src/compat/): a listener per enabled [compat.<system>] profile. */
function addCompat(
  config: NodeConfig,
  core: Core,
  logger: Logger,
  life: Lifecycle,
  triggers: () => Record<string, string | undefined>,
): void {
  let running: RunningCompat[] = [];
  life.add({
    name: 'compat',
    listen: async () => {
      running = await startCompat(
        [openfaasProfile, unifaasProfile, faasmProfile, serverledgeProfile, tinyfaasProfile],
        config.compat,
        config.host,
        {
          nodeName: config.node,
          area: config.cluster.area,
          version: VERSION,
          scheduler: core.scheduler,
          registry: core.registry,
          logs: core.logs,
          token: core.token,
          limits: config.limits,
          dataDir: config.dataDir,
          scratchDir: core.scratchDir,
          settled: core.settled,
          logger,
          runtimes: () => core.runtimes.info(),
          workflows: core.workflows,
          // tinyFaaS's upload reply names the CoAP and gRPC endpoints.
          triggers,
        },
      );
    },
    quiesce: async () => {
      await Promise.allSettled(running.map((c) => c.close()));
    },
  });
}

/** Routes of other parts on the native API: workflows, container images by name (issue 23), the cluster's node-to-node routes. */
function nativePlugins(core: Core) {
  const containers = core.localRuntimes.find((r) => r instanceof ContainerRuntime);
  return [
    workflowRoutes({ workflows: core.workflows }),
    ...(containers instanceof ContainerRuntime
      ? [imageRoutes({ images: containers.images, maxBytes: DEFAULT_IMAGE_LIMITS.archiveBytes })]
      : []),
    ...(core.cluster ? [core.cluster.routes(core.scheduler)] : []),
  ];
}

/** This node as /v1/nodes lists it outside a cluster. */
function selfMember(config: NodeConfig, core: Core, url: string): NodeMember {
  const cap = core.scheduler.capacity();
  const all = core.statuses();
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
}
