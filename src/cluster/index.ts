/**
 * Cluster mode (`tern serve --etcd URL`): one node's part of the edge–cloud cluster, wired from its
 * config. It provides the registry the node uses (functions shared through etcd), the scheduler's
 * offloader, the node-to-node routes and the membership view behind `/v1/nodes`.
 *
 * Order of use (src/node/core-parts.ts, edge-parts.ts): createCluster before the scheduler (it needs `registry` and
 * `offloader`); `routes(scheduler)` as a gateway plugin; `start` once the HTTP server listens (the
 * advertised URL needs the real port); `leave` first when stopping (peers stop routing here),
 * `close` before the registry closes.
 */
import type { Agent } from 'node:http';
import { join as joinPath } from 'node:path';
import type { Etcd3 } from 'etcd3';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { NodeConfig } from '../config.js';
import type { NodeMember } from '../core/node-info.js';
import type { Registry } from '../registry/registry.js';
import type { Invocation } from '../core/invocation.js';
import type { Result } from '../core/result.js';
import type { TernError } from '../core/errors.js';
import type { Scheduler } from '../scheduler/types.js';
import { fetchArchive } from './archive-fetch.js';
import { ArchiveStore } from './archive-store.js';
import { createEtcdClient, loadEtcdAccess } from './etcd.js';
import { EtcdRegistry } from './etcd-registry.js';
import { ClusterKeys } from './keys.js';
import { Membership } from './membership.js';
import { Offloader } from './offload.js';
import { createPeerAgent } from './peer-client.js';
import type { MemberRecord } from './records.js';
import { RegistrySync } from './registry-sync.js';
import { RequestVerifier } from './request-auth.js';
import { clusterRoutes } from './routes.js';

export interface ClusterDeps {
  config: NodeConfig;
  /** The node's folder store (DirRegistry); the cluster registry wraps it and owns it. */
  local: Registry;
  logger: Logger;
}

export interface ClusterNode {
  /** Use this as the node's registry. */
  readonly registry: Registry;
  /** SchedulerOptions.offloader */
  readonly offloader: (inv: Invocation, reason: TernError) => Promise<Result | undefined>;
  /** The node-to-node routes, as a gateway plugin. */
  routes(scheduler: Pick<Scheduler, 'invoke'>): (app: FastifyInstance) => void;
  /** GatewayDeps.nodes: this node (fresh load) and every live member. */
  nodes(): Promise<NodeMember[]>;
  /** Join: register under a lease, publish load, sync the registry. Never throws for an unreachable etcd. */
  start(o: { url: string; scheduler: Pick<Scheduler, 'status' | 'capacity'> }): void;
  /** Leave the cluster now (peers stop routing here) and stop syncing. */
  leave(): Promise<void>;
  close(): Promise<void>;
}

export const MIN_SECRET_LENGTH = 16;
/** Load refresh period: a few seconds, and at least three per lease TTL. */
const heartbeatMs = (ttlSec: number) => Math.min(2_000, Math.floor((ttlSec * 1000) / 3));

type ClusterConfig = NodeConfig['cluster'];
type LoadSource = Pick<Scheduler, 'status' | 'capacity'>;

/** What a node builds once, before it joins. */
interface ClusterParts {
  config: NodeConfig;
  log: Logger;
  keys: ClusterKeys;
  client: Etcd3;
  agent: Agent;
  archives: ArchiveStore;
  registry: EtcdRegistry;
  offloader: Offloader;
  /** Set by `join`. */
  joined?: { membership: Membership; sync: RegistrySync; self: () => MemberRecord };
}

export function createCluster(deps: ClusterDeps): ClusterNode {
  const parts = buildParts(deps);
  const { config, registry, offloader } = parts;
  const stop = async () => {
    await Promise.allSettled([parts.joined?.membership.leave(), parts.joined?.sync.stop()]);
  };
  return {
    registry,
    offloader: offloader.offload,
    routes: (scheduler) =>
      clusterRoutes({
        nodeName: config.node,
        maxHops: config.cluster.maxHops,
        bodyLimit: config.limits.bodyBytes,
        verifier: new RequestVerifier(parts.keys, config.node),
        scheduler,
        registry,
        offloader,
        archives: parts.archives,
      }),
    nodes: async () => listNodes(parts),
    start: ({ url, scheduler }) => join(parts, url, scheduler),
    leave: stop,
    async close() {
      await stop();
      parts.agent.destroy();
      parts.client.close();
    },
  };
}

function requireSecret(c: ClusterConfig): string {
  if (c.secret === undefined || c.secret.length < MIN_SECRET_LENGTH) {
    throw new Error(
      `cluster mode (--etcd) needs a cluster secret of at least ${MIN_SECRET_LENGTH} characters, the same on every node: set [cluster] secret or TERN_CLUSTER_SECRET`,
    );
  }
  return c.secret;
}

function buildParts(deps: ClusterDeps): ClusterParts {
  const { config, logger } = deps;
  const c = config.cluster;
  const keys = new ClusterKeys(requireSecret(c));
  const log = logger.child({ component: 'cluster' });
  const access = loadEtcdAccess(c.etcdAccess);
  if (access.password !== undefined && c.etcd.some((u) => !u.startsWith('https://')))
    log.warn(
      { event: 'etcd_password_plaintext' },
      'the etcd password goes to etcd over plain http: use https:// endpoints ([cluster] etcd-ca)',
    );
  const archives = new ArchiveStore(joinPath(config.dataDir, 'cluster', 'functions'));
  const registry = new EtcdRegistry({ local: deps.local, store: archives, logger: log });
  const agent = createPeerAgent();
  const parts: Omit<ClusterParts, 'offloader'> = {
    config,
    log,
    keys,
    client: createEtcdClient(c.etcd, access),
    agent,
    archives,
    registry,
  };
  const offloader = new Offloader({
    nodeName: config.node,
    role: c.role,
    area: c.area,
    defaultPolicy: c.offload,
    maxHops: c.maxHops,
    queueWaitMs: config.queue.waitMs,
    peers: () => parts.joined?.membership.peers() ?? [],
    spec: (fn) => registry.get(fn)?.spec,
    keys,
    agent,
    logger: log,
  });
  return Object.assign(parts, { offloader });
}

type ListedMember = NodeMember & { busy: number; warmFunctions: string[] };

function asMember(m: MemberRecord, self: boolean): ListedMember {
  return {
    name: m.name,
    role: m.role,
    area: m.area,
    url: m.url,
    load: { freeMemoryMiB: m.load.freeMemoryMiB, queued: m.load.queued, warm: m.load.warm },
    busy: m.load.busy,
    warmFunctions: m.warmFunctions,
    ...(self ? { self: true } : {}),
  };
}

/** This node (fresh load) and every member whose record verifies, by name. */
function listNodes(parts: ClusterParts): ListedMember[] {
  const self = parts.joined?.self();
  const peers = parts.joined?.membership.peers() ?? [];
  const list = [...(self ? [asMember(self, true)] : []), ...peers.map((p) => asMember(p, false))];
  return list.sort((a, b) => (a.name < b.name ? -1 : 1));
}

function advertisedUrl(parts: ClusterParts, url: string): string {
  const advertise = (parts.config.cluster.advertise ?? url).replace(/\/+$/, '');
  if (/^https?:\/\/(0\.0\.0\.0|\[::\])(:|\/|$)/.test(advertise)) {
    parts.log.warn(
      { event: 'cluster_advertise', url: advertise },
      `peers cannot reach ${advertise}: set [cluster] advertise to an address they can`,
    );
  }
  return advertise;
}

/** This node's member record as it reads now. */
function selfRecord(parts: ClusterParts, advertise: string, scheduler: LoadSource): () => MemberRecord {
  const { config, registry } = parts;
  const startedAt = new Date().toISOString();
  return () => {
    const cap = scheduler.capacity();
    const statuses = registry.list().flatMap((fn) => scheduler.status(fn.spec.name) ?? []);
    const warm = statuses.filter((s) => s.instances.total > 0);
    return {
      name: config.node,
      role: config.cluster.role,
      area: config.cluster.area,
      url: advertise,
      load: {
        freeMemoryMiB: cap.memoryMiB - cap.usedMiB,
        queued: statuses.reduce((n, s) => n + s.queued, 0),
        warm: warm.length,
        busy: statuses.reduce((n, s) => n + s.instances.busy, 0),
      },
      warmFunctions: warm.slice(0, 500).map((s) => s.name),
      startedAt,
    };
  };
}

/** Register under a lease, keep the member view and the registry in step with etcd. */
function join(parts: ClusterParts, url: string, scheduler: LoadSource): void {
  const { config, log, keys, client, agent, registry } = parts;
  const c = config.cluster;
  const advertise = advertisedUrl(parts, url);
  const self = selfRecord(parts, advertise, scheduler);
  const intervalMs = heartbeatMs(c.leaseTtlSec);
  const membership = new Membership({ client, self, keys, ttlSec: c.leaseTtlSec, intervalMs, logger: log });
  const sync = new RegistrySync({
    client,
    registry,
    keys,
    nodeName: config.node,
    url: advertise,
    fetch: (record) =>
      fetchArchive(
        { agent, keys, nodeName: config.node, logger: log },
        record,
        [
          { name: record.source, url: record.url },
          ...membership.peers().map((p) => ({ name: p.name, url: p.url })),
        ].filter((s) => s.url !== advertise),
      ),
    logger: log,
  });
  parts.joined = { membership, sync, self };
  membership.start();
  sync.start();
  log.info(
    {
      event: 'cluster_join',
      etcd: c.etcd,
      role: c.role,
      area: c.area,
      url: advertise,
      offload: c.offload,
      maxHops: c.maxHops,
    },
    `joining the cluster at ${c.etcd.join(',')} as ${c.role} node in area "${c.area}"`,
  );
}
