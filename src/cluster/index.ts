/**
 * Cluster mode (`tern serve --etcd URL`): one node's part of the edge–cloud cluster, wired from its
 * config. It provides the registry the node uses (functions shared through etcd), the scheduler's
 * offloader, the node-to-node routes and the membership view behind `/v1/nodes`.
 *
 * Order of use (src/node.ts): createCluster before the scheduler (it needs `registry` and
 * `offloader`); `routes(scheduler)` as a gateway plugin; `start` once the HTTP server listens (the
 * advertised URL needs the real port); `leave` first when stopping (peers stop routing here),
 * `close` before the registry closes.
 */
import { join } from 'node:path';
import type { FastifyInstance, FastifyRequest } from 'fastify';
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
import { createEtcdClient } from './etcd.js';
import { EtcdRegistry } from './etcd-registry.js';
import { Membership } from './membership.js';
import { Offloader } from './offload.js';
import { createPeerAgent } from './peer-client.js';
import type { MemberRecord } from './records.js';
import { RegistrySync } from './registry-sync.js';
import { clusterRoutes } from './routes.js';
import { ClusterSecret } from './secret.js';

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
  /** Verifies a node-to-node request (routes with access 'cluster'); throws to refuse. */
  verifyPeer(request: FastifyRequest): void;
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

export function createCluster(deps: ClusterDeps): ClusterNode {
  const { config, logger } = deps;
  const c = config.cluster;
  if (c.secret === undefined || c.secret.length < MIN_SECRET_LENGTH) {
    throw new Error(
      `cluster mode (--etcd) needs a cluster secret of at least ${MIN_SECRET_LENGTH} characters, the same on every node: set [cluster] secret or TERN_CLUSTER_SECRET`,
    );
  }
  const log = logger.child({ component: 'cluster' });
  const secret = new ClusterSecret(c.secret);
  const client = createEtcdClient(c.etcd);
  const agent = createPeerAgent();
  const archives = new ArchiveStore(join(config.dataDir, 'cluster', 'functions'));
  const registry = new EtcdRegistry({ local: deps.local, store: archives, logger: log });
  let membership: Membership | undefined;
  let sync: RegistrySync | undefined;
  let selfRecord: (() => MemberRecord) | undefined;

  const offloader = new Offloader({
    nodeName: config.node,
    role: c.role,
    area: c.area,
    defaultPolicy: c.offload,
    maxHops: c.maxHops,
    queueWaitMs: config.queue.waitMs,
    peers: () => membership?.peers() ?? [],
    spec: (fn) => registry.get(fn)?.spec,
    secret,
    agent,
    logger: log,
  });

  const asMember = (m: MemberRecord, self: boolean): NodeMember & { busy: number; warmFunctions: string[] } => ({
    name: m.name,
    role: m.role,
    area: m.area,
    url: m.url,
    load: { freeMemoryMiB: m.load.freeMemoryMiB, queued: m.load.queued, warm: m.load.warm },
    busy: m.load.busy,
    warmFunctions: m.warmFunctions,
    ...(self ? { self: true } : {}),
  });

  return {
    registry,
    offloader: offloader.offload,
    verifyPeer: (request) => secret.require(request.headers),
    routes: (scheduler) =>
      clusterRoutes({
        nodeName: config.node,
        maxHops: c.maxHops,
        bodyLimit: config.limits.bodyBytes,
        secret,
        scheduler,
        offloader,
        archives,
      }),

    async nodes() {
      const self = selfRecord?.();
      const peers = membership?.peers() ?? [];
      const list = [...(self ? [asMember(self, true)] : []), ...peers.map((p) => asMember(p, false))];
      return list.sort((a, b) => (a.name < b.name ? -1 : 1));
    },

    start({ url, scheduler }) {
      const advertise = (c.advertise ?? url).replace(/\/+$/, '');
      if (/^https?:\/\/(0\.0\.0\.0|\[::\])(:|\/|$)/.test(advertise)) {
        log.warn(
          { event: 'cluster_advertise', url: advertise },
          `peers cannot reach ${advertise}: set [cluster] advertise to an address they can`,
        );
      }
      const startedAt = new Date().toISOString();
      selfRecord = () => {
        const cap = scheduler.capacity();
        const statuses = registry.list().flatMap((fn) => scheduler.status(fn.spec.name) ?? []);
        const warm = statuses.filter((s) => s.instances.total > 0);
        return {
          name: config.node,
          role: c.role,
          area: c.area,
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
      membership = new Membership({
        client,
        self: selfRecord,
        ttlSec: c.leaseTtlSec,
        intervalMs: heartbeatMs(c.leaseTtlSec),
        logger: log,
      });
      const view = membership;
      sync = new RegistrySync({
        client,
        registry,
        nodeName: config.node,
        url: advertise,
        fetch: (record) =>
          fetchArchive(
            { agent, secret, logger: log },
            record,
            [record.url, ...view.peers().map((p) => p.url)].filter((u) => u !== advertise),
          ),
        logger: log,
      });
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
    },

    async leave() {
      await Promise.allSettled([membership?.leave(), sync?.stop()]);
    },

    async close() {
      await Promise.allSettled([membership?.leave(), sync?.stop()]);
      agent.destroy();
      client.close();
    },
  };
}
