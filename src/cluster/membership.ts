/**
 * Cluster membership: this node's record under its own lease, and the view of every member.
 *
 * The lease (keep-alive by the etcd3 client) is what says a node is alive: a node that dies stops
 * renewing it and etcd deletes its key when the TTL runs out. The record is rewritten only when the
 * load it reports changes. Every tick also reads the whole member list: one small range read every
 * few seconds, and a view that heals by itself after an etcd outage or an etcd that lost its data.
 * When the lease is lost (etcd was away longer than the TTL), the next tick grants a new one.
 *
 * Trust: the record is signed with the cluster's member key and re-signed every MEMBER_RESIGN_MS;
 * a record whose MAC does not verify, or that is stale, is left out of the view (and said once, at
 * warn), so nothing is ever sent to a node that does not hold the cluster secret.
 */
import type { Etcd3, Lease } from 'etcd3';
import type { Logger } from 'pino';
import { ETCD_CALL_MS } from './etcd.js';
import type { ClusterKeys } from './keys.js';
import { NODES_PREFIX, nodeKey, type MemberRecord } from './records.js';
import { MEMBER_RESIGN_MS, OnceByKey, openMember, signMember } from './signed-records.js';

export interface MembershipOptions {
  client: Etcd3;
  /** This node's record as it should read now (fresh load). */
  self: () => MemberRecord;
  keys: ClusterKeys;
  ttlSec: number;
  /** Time between ticks (load refresh and view read). */
  intervalMs: number;
  logger: Logger;
}

export class Membership {
  private lease: Lease | undefined;
  private leaseLost = false;
  /** The content last written (without its signature) and when it was signed. */
  private written = '';
  private writtenAt = 0;
  private readonly refusedKeys = new OnceByKey();
  private view = new Map<string, MemberRecord>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private stopped = false;
  private etcdDown = false;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly o: MembershipOptions) {}

  /** Register and keep registering; never throws (an unreachable etcd is retried every tick). */
  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  /** Every live member but this node. */
  peers(): MemberRecord[] {
    const self = this.o.self().name;
    return [...this.view.values()].filter((m) => m.name !== self);
  }

  members(): MemberRecord[] {
    return [...this.view.values()];
  }

  /** Called after each view refresh (tests and the sync loop wait on it instead of sleeping). */
  onRefresh(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Leave at once: revoking the lease deletes this node's key, so peers stop routing here now. */
  async leave(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.ticking;
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await lease.revoke({ deadline: Date.now() + ETCD_CALL_MS }).catch(() => lease.release());
  }

  /** Run a tick now (e.g. the lease was lost) instead of waiting for the next one. */
  private kick(): void {
    if (this.stopped || this.ticking) return;
    clearTimeout(this.timer);
    this.schedule(0);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick().finally(() => {
        this.ticking = undefined;
        this.schedule(this.o.intervalMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    try {
      if (this.lease === undefined || this.leaseLost) await this.grant();
      const record = this.o.self();
      await this.writeSelf(record);
      this.view = await this.readView();
      // Our key can vanish under a live lease (someone deleted it): write it again next tick.
      const listed = this.view.get(record.name);
      if (!listed) this.written = '';
      else if (listed.startedAt !== record.startedAt || listed.url !== record.url) this.nameClash(listed);
      if (this.etcdDown) this.o.logger.info({ event: 'etcd_back' }, 'etcd reachable again; membership refreshed');
      this.etcdDown = false;
      for (const listener of this.listeners) listener();
    } catch (e) {
      if (!this.etcdDown)
        this.o.logger.warn(
          { event: 'etcd_unreachable', err: (e as Error).message },
          `etcd unreachable, serving with the last known members: ${(e as Error).message}`,
        );
      this.etcdDown = true;
    }
  }

  /** Write this node's record when its content changed, or its signature is getting old. */
  private async writeSelf(record: MemberRecord): Promise<void> {
    const content = JSON.stringify(record);
    const now = Date.now();
    if (content === this.written && now - this.writtenAt < MEMBER_RESIGN_MS) return;
    await this.lease!.put(nodeKey(record.name)).value(JSON.stringify(signMember(this.o.keys, record, now)));
    this.written = content;
    this.writtenAt = now;
  }

  /** Every member whose record verifies; the others are said once (per key and reason) and left out. */
  private async readView(): Promise<Map<string, MemberRecord>> {
    const raw = await this.o.client.getAll().prefix(NODES_PREFIX).strings();
    const view = new Map<string, MemberRecord>();
    const now = Date.now();
    for (const [key, value] of Object.entries(raw)) {
      const opened = openMember(this.o.keys, value, now);
      const why = !opened.ok ? opened.why : key !== nodeKey(opened.record.name) ? 'its key is not its name' : '';
      if (opened.ok && !why) {
        const { signedAt: _at, mac: _mac, ...member } = opened.record;
        view.set(member.name, member);
        this.refusedKeys.clear(key);
      } else if (this.refusedKeys.first(key, why)) {
        this.o.logger.warn(
          { event: 'cluster_bad_member', key, why },
          `ignoring the member record at ${key}: ${why}; nothing is sent to that node`,
        );
      }
    }
    return view;
  }

  private clashWarned = false;

  /** Two live nodes with one name overwrite each other's record: say so (once), it needs fixing. */
  private nameClash(other: MemberRecord): void {
    if (this.clashWarned) return;
    this.clashWarned = true;
    this.o.logger.error(
      { event: 'cluster_name_clash', other: other.url },
      `another node (${other.url}) is registered under this node's name; give each node its own --node name`,
    );
  }

  private async grant(): Promise<void> {
    const previous = this.lease;
    this.lease = undefined;
    previous?.release();
    const lease = this.o.client.lease(this.o.ttlSec, { autoKeepAlive: true });
    lease.on('lost', (err) => {
      if (this.lease !== lease) return;
      this.o.logger.warn(
        { event: 'lease_lost', err: err.message },
        `cluster lease lost (${err.message}); registering again`,
      );
      this.leaseLost = true;
      this.kick();
    });
    try {
      const id = await lease.grant();
      this.lease = lease;
      this.leaseLost = false;
      this.written = '';
      this.o.logger.info(
        { event: 'lease_granted', lease: id, ttl: this.o.ttlSec },
        `registered in the cluster (lease ${id}, ttl ${this.o.ttlSec}s)`,
      );
    } catch (e) {
      lease.release();
      throw e;
    }
  }
}
