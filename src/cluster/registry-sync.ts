/**
 * Keeps a node's EtcdRegistry and etcd's `tern/functions/` in step, both ways.
 *
 * In: a watch on the prefix applies each change as it happens; a full read on every (re)connect
 * and every `resyncMs` catches anything a watch can miss (etcd away, etcd restarted empty). Each
 * function is applied in order, one change at a time; a record older than one already applied
 * (by etcd revision) is ignored, so a late event never undoes a newer deploy.
 *
 * Out: a local deploy or delete is written to etcd at once, and retried every `retryMs` while etcd
 * is unreachable; a function this node has and etcd does not know is offered with a
 * create-if-absent transaction (a node joining with functions, or an etcd that lost its data).
 *
 * Trust: every record is signed (signed-records.ts); one whose MAC does not verify is ignored and
 * said once, so a forged record or tombstone changes nothing. Each record also carries `seq`, one
 * more than the highest this node had seen for that name when it wrote it (written by
 * compare-and-swap on the key's revision): a genuine record copied and put back into etcd later is
 * older than what the nodes have seen, so they ignore it and write their newer view again.
 */
import type { Etcd3, Watcher } from 'etcd3';
import type { Logger } from 'pino';
import { isTernError } from '../core/errors.js';
import type { EtcdRegistry, Publishable } from './etcd-registry.js';
import { ETCD_CALL_MS } from './etcd.js';
import type { ClusterKeys } from './keys.js';
import {
  FUNCTIONS_PREFIX,
  functionKey,
  type FunctionRecord,
  type LiveFunctionRecord,
  type UnsignedFunctionRecord,
} from './records.js';
import { OnceByKey, openFunctionRecord, signFunctionRecord } from './signed-records.js';

export interface RegistrySyncOptions {
  client: Etcd3;
  registry: EtcdRegistry;
  keys: ClusterKeys;
  nodeName: string;
  /** This node's advertised URL (published as where to fetch its deploys). */
  url: string;
  /** Fetch a version's archive from the nodes that may hold it. */
  fetch: (record: LiveFunctionRecord) => Promise<Buffer>;
  logger: Logger;
  resyncMs?: number;
  retryMs?: number;
}

const MAX_RETRY_MS = 30_000;
/** First delay before a failed watch is made again (doubling up to MAX_RETRY_MS). */
const REWATCH_MS = 250;
/** Compare-and-swap attempts of one write before it is retried later. */
const MAX_CAS_ATTEMPTS = 5;

type Wanted = { record: FunctionRecord | null; revision: bigint };
/** The newest genuine record this node has seen of a function. */
type Latest = { seq: number; deleted: boolean; version: string };
type WriteOutcome = { kind: 'written'; record: FunctionRecord; revision: bigint } | { kind: 'same' } | { kind: 'lost' };

/** Cancelling a watcher the server already cancelled never settles: give it the time of one etcd call. */
async function cancelWatcher(watcher: Watcher | undefined): Promise<void> {
  if (!watcher) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ETCD_CALL_MS);
  });
  await Promise.race([watcher.cancel().catch(() => undefined), timeout]);
  clearTimeout(timer);
}

const sameContent = (record: FunctionRecord, what: Publishable): boolean =>
  record.deleted
    ? what.kind === 'deleted' && record.version === what.version
    : what.kind === 'live' && record.version === what.version && record.archive.sha256 === what.archive.sha256;

export class RegistrySync {
  private watcher: Watcher | undefined;
  private rewatchTimer: NodeJS.Timeout | undefined;
  /** Watches that failed in a row (reset when one connects). */
  private watchFailures = 0;
  private resyncTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private stopped = true;
  /** Highest etcd revision applied per function: older records are stale. */
  private readonly applied = new Map<string, bigint>();
  private readonly wanted = new Map<string, Wanted>();
  private readonly running = new Map<string, Promise<void>>();
  /** A version that failed validation here is not retried until etcd names another. */
  private readonly refused = new Map<string, string>();
  private readonly publishing = new Map<string, Promise<void>>();
  private highestRevision = 0n;
  /** False after a failed etcd write: the retry timer takes over instead of retrying at once. */
  private lastWriteOk = true;
  private unsubscribe: (() => void) | undefined;
  private resyncing: Promise<void> | undefined;
  private readonly resyncMs: number;
  private readonly retryMs: number;
  private retryDelayMs: number;
  /** The version of each function whose code could not be fetched yet (logged once). */
  private readonly unreachable = new Map<string, string>();
  /** Survives an etcd reset: a record older than this is stale, whatever etcd's revisions say. */
  private readonly latest = new Map<string, Latest>();
  private readonly refusedRecords = new OnceByKey();

  constructor(private readonly o: RegistrySyncOptions) {
    this.resyncMs = o.resyncMs ?? 10_000;
    this.retryMs = o.retryMs ?? 2_000;
    this.retryDelayMs = this.retryMs;
  }

  start(): void {
    this.stopped = false;
    this.unsubscribe = this.o.registry.onLocalChange((name) => this.publish(name));
    this.watch();
    for (const name of this.o.registry.pendingNames()) this.publish(name);
    void this.resync();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    clearTimeout(this.resyncTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.rewatchTimer);
    const watcher = this.watcher;
    this.watcher = undefined;
    await cancelWatcher(watcher);
    await Promise.allSettled([...this.running.values(), ...this.publishing.values(), this.resyncing]);
  }

  // ---- in ----

  private watch(): void {
    const watcher = this.o.client.watch().prefix(FUNCTIONS_PREFIX).watcher();
    this.watcher = watcher;
    watcher.on('connected', () => {
      this.watchFailures = 0;
      void this.resync();
    });
    watcher.on('put', (kv) => this.want(kv.key.toString(), kv.value.toString(), BigInt(kv.mod_revision)));
    watcher.on('delete', (kv) => this.want(kv.key.toString(), null, BigInt(kv.mod_revision)));
    watcher.on('data', (res) => this.seeRevision(BigInt(res.header.revision)));
    watcher.on('disconnected', (err) =>
      this.o.logger.debug({ event: 'registry_watch_disconnected', err: err.message }, 'registry watch disconnected'),
    );
    watcher.on('error', (err) => {
      // Not recoverable for this watcher (its revision was compacted away, etcd refused it): start a
      // fresh one, backing off while they keep failing (an etcd that refuses this node's credentials).
      const delay = Math.min(REWATCH_MS * 2 ** this.watchFailures, MAX_RETRY_MS);
      this.o.logger[this.watchFailures === 0 ? 'warn' : 'debug'](
        { event: 'registry_watch_error', err: err.message },
        `registry watch failed: ${err.message}; watching again in ${delay} ms`,
      );
      this.watchFailures++;
      if (this.watcher === watcher) this.rewatch(delay);
    });
  }

  private rewatch(delayMs = 0): void {
    const old = this.watcher;
    this.watcher = undefined;
    void cancelWatcher(old);
    clearTimeout(this.rewatchTimer);
    this.rewatchTimer = setTimeout(() => {
      if (!this.stopped && this.watcher === undefined) this.watch();
    }, delayMs);
    this.rewatchTimer.unref();
  }

  private seeRevision(revision: bigint): void {
    if (revision > this.highestRevision) this.highestRevision = revision;
  }

  /** Read the whole prefix: apply every record, offer what etcd does not know. */
  private resync(): Promise<void> {
    this.resyncing ??= this.readAll().finally(() => {
      this.resyncing = undefined;
      clearTimeout(this.resyncTimer);
      if (this.stopped) return;
      this.resyncTimer = setTimeout(() => void this.resync(), this.resyncMs);
      this.resyncTimer.unref();
    });
    return this.resyncing;
  }

  private async readAll(): Promise<void> {
    if (this.stopped) return;
    let res;
    try {
      res = await this.o.client.getAll().prefix(FUNCTIONS_PREFIX).exec();
    } catch (e) {
      this.o.logger.debug(
        { event: 'registry_resync_failed', err: (e as Error).message },
        'registry resync failed (etcd unreachable)',
      );
      return;
    }
    const revision = BigInt(res.header.revision);
    if (revision < this.highestRevision) {
      // etcd went back in time (restored or recreated): old revisions mean nothing any more.
      this.o.logger.warn(
        { event: 'etcd_reset', revision: String(revision), seen: String(this.highestRevision) },
        'etcd revision went backwards: resynchronising the registry',
      );
      this.applied.clear();
      this.highestRevision = revision;
      this.rewatch();
    }
    this.seeRevision(revision);
    const present = new Set<string>();
    for (const kv of res.kvs) {
      const key = kv.key.toString();
      present.add(key.slice(FUNCTIONS_PREFIX.length));
      this.want(key, kv.value.toString(), BigInt(kv.mod_revision));
    }
    for (const fn of this.o.registry.list()) {
      if (!present.has(fn.spec.name)) this.wantAbsent(fn.spec.name, revision);
    }
  }

  private want(key: string, value: string | null, revision: bigint): void {
    if (!key.startsWith(FUNCTIONS_PREFIX)) return;
    const name = key.slice(FUNCTIONS_PREFIX.length);
    if (value === null) {
      this.wantAbsent(name, revision);
      return;
    }
    const opened = openFunctionRecord(this.o.keys, value);
    const why = !opened.ok ? opened.why : opened.record.name !== name ? 'its name is not its key' : '';
    if (!opened.ok || why) {
      if (this.refusedRecords.first(key, why))
        this.o.logger.warn(
          { event: 'registry_bad_record', key, why },
          `ignoring the function record at ${key}: ${why}; nothing is deployed or removed for it`,
        );
      return;
    }
    this.refusedRecords.clear(key);
    this.enqueue(name, { record: opened.record, revision });
  }

  private wantAbsent(name: string, revision: bigint): void {
    this.enqueue(name, { record: null, revision });
  }

  /** Coalesce: while a change of a function is being applied, only the latest wanted one waits. */
  private enqueue(name: string, wanted: Wanted): void {
    if (this.stopped) return;
    if (wanted.revision < (this.applied.get(name) ?? 0n)) return;
    this.wanted.set(name, wanted);
    if (this.running.has(name)) return;
    const run = (async () => {
      for (let next = this.wanted.get(name); next !== undefined && !this.stopped; next = this.wanted.get(name)) {
        this.wanted.delete(name);
        await this.apply(name, next);
      }
    })().finally(() => this.running.delete(name));
    this.running.set(name, run);
  }

  private async apply(name: string, { record, revision }: Wanted): Promise<void> {
    if (revision < (this.applied.get(name) ?? 0n)) return;
    const registry = this.o.registry;
    if (record === null) {
      registry.offer(name);
      return;
    }
    if (this.isStale(name, record)) {
      this.applied.set(name, revision);
      return;
    }
    try {
      if (record.deleted) {
        if (await registry.drop(name))
          this.o.logger.info(
            { event: 'cluster_remove', function: name, by: record.source },
            `removed ${name} (deleted on ${record.source})`,
          );
        this.refused.delete(name);
      } else if (this.refused.get(name) !== record.version) {
        const outcome = await registry.adopt(name, record, () => this.o.fetch(record));
        if (outcome === 'deployed')
          this.o.logger.info(
            { event: 'cluster_deploy', function: name, version: record.version, from: record.source },
            `deployed ${name} ${record.version} from ${record.source}`,
          );
      }
      this.applied.set(name, revision);
      this.unreachable.delete(name);
    } catch (e) {
      const code = isTernError(e) ? e.code : 'internal';
      if (code === 'bad_spec' || code === 'bad_archive' || code === 'too_large' || code === 'bad_request') {
        // This node cannot run it (e.g. a runtime it lacks): say so once, keep what it had.
        this.refused.set(name, record.version);
        this.applied.set(name, revision);
        this.o.logger.error(
          { event: 'cluster_deploy_refused', function: name, version: record.version, err: (e as Error).message },
          `cannot deploy ${name} ${record.version} here: ${(e as Error).message}`,
        );
        return;
      }
      // Said once per version; the retries that follow (backing off) stay quiet unless they succeed.
      const level = this.unreachable.get(name) === record.version ? 'debug' : 'warn';
      this.unreachable.set(name, record.version);
      this.o.logger[level](
        { event: 'cluster_deploy_retry', function: name, version: record.version, err: (e as Error).message },
        `cannot deploy ${name} ${record.version} yet: ${(e as Error).message}`,
      );
      this.retryLater(false);
    }
  }

  /** An older record than one seen before (put back into etcd): ignore it, write this node's view again. */
  private isStale(name: string, record: FunctionRecord): boolean {
    const latest = this.latest.get(name);
    if (latest === undefined || record.seq >= latest.seq) {
      this.latest.set(name, { seq: record.seq, deleted: record.deleted, version: record.version });
      return false;
    }
    if (this.refusedRecords.first(functionKey(name), `stale ${record.seq}`))
      this.o.logger.warn(
        { event: 'registry_stale_record', function: name, seq: record.seq, seen: latest.seq },
        `ignoring an older record of ${name} (seq ${record.seq}, this node has seen ${latest.seq}); writing the newer one again`,
      );
    this.o.registry.reassert(name, latest);
    return true;
  }

  // ---- out ----

  private publish(name: string): void {
    if (this.stopped || this.publishing.has(name)) return;
    const run = this.write(name).finally(() => {
      this.publishing.delete(name);
      // A change made while this write was in flight still waits: write it too.
      if (this.o.registry.pendingChange(name) && !this.stopped && this.lastWriteOk) this.publish(name);
    });
    this.publishing.set(name, run);
  }

  private async write(name: string): Promise<void> {
    const registry = this.o.registry;
    const change = registry.pendingChange(name);
    if (!change) return;
    try {
      const what = await registry.publishable(name);
      if (!what) {
        registry.settled(name, change.generation);
        return;
      }
      const outcome = await this.compareAndPut(name, what, change.ifAbsent);
      registry.settled(name, change.generation);
      if (outcome.kind === 'written') this.markApplied(name, outcome.revision, outcome.record);
      if (outcome.kind === 'lost') void this.resync();
      this.lastWriteOk = true;
      this.retryLater(true);
      this.o.logger.debug(
        { event: 'registry_published', function: name, version: what.version, outcome: outcome.kind },
        `published ${name} to etcd`,
      );
    } catch (e) {
      if (this.lastWriteOk)
        this.o.logger.warn(
          { event: 'registry_publish_failed', function: name, err: (e as Error).message },
          `cannot publish ${name} to etcd yet (${(e as Error).message}); retrying`,
        );
      this.lastWriteOk = false;
      this.retryLater(false);
    }
  }

  /**
   * Write the signed record of `what`, its seq past every record seen, only if the key has not
   * changed since it was read. 'lost': an if-absent offer found a record; 'same': etcd already says it.
   */
  private async compareAndPut(name: string, what: Publishable, ifAbsent: boolean): Promise<WriteOutcome> {
    const key = functionKey(name);
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      const kv = (await this.o.client.get(key).exec()).kvs[0];
      if (kv && ifAbsent) return { kind: 'lost' };
      const opened = kv ? openFunctionRecord(this.o.keys, kv.value.toString()) : undefined;
      const current = opened?.ok ? opened.record : undefined;
      if (current && sameContent(current, what) && current.seq >= (this.latest.get(name)?.seq ?? 0))
        return { kind: 'same' };
      const seq = Math.max(this.latest.get(name)?.seq ?? 0, current?.seq ?? 0) + 1;
      const record = signFunctionRecord(this.o.keys, this.unsignedRecord(name, what, seq));
      const guard = kv ? this.o.client.if(key, 'Mod', '==', kv.mod_revision) : this.o.client.if(key, 'Create', '==', 0);
      const res = await guard.then(this.o.client.put(key).value(JSON.stringify(record))).commit();
      if (res.succeeded) return { kind: 'written', record, revision: BigInt(res.header.revision) };
    }
    throw new Error(`the record of ${name} in etcd kept changing under ${MAX_CAS_ATTEMPTS} writes`);
  }

  private unsignedRecord(name: string, what: Publishable, seq: number): UnsignedFunctionRecord {
    const common = { name, version: what.version, source: this.o.nodeName, seq };
    return what.kind === 'deleted'
      ? { ...common, deleted: true, deletedAt: new Date().toISOString() }
      : {
          ...common,
          deleted: false,
          url: this.o.url,
          archive: { type: what.archive.type, sha256: what.archive.sha256, bytes: what.archive.bytes },
          deployedAt: what.deployedAt,
        };
  }

  private markApplied(name: string, revision: bigint, record: FunctionRecord): void {
    this.seeRevision(revision);
    if (revision > (this.applied.get(name) ?? 0n)) this.applied.set(name, revision);
    this.latest.set(name, { seq: record.seq, deleted: record.deleted, version: record.version });
  }

  /**
   * One timer for every retry: pending publishes, and a resync for deploys that could not fetch.
   * The delay doubles while attempts keep failing (an etcd away for long, code no node holds).
   */
  private retryLater(succeeded: boolean): void {
    if (succeeded) {
      this.retryDelayMs = this.retryMs;
      return;
    }
    if (this.stopped || this.retryTimer) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, MAX_RETRY_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      for (const name of this.o.registry.pendingNames()) this.publish(name);
      void this.resync();
    }, delay);
    this.retryTimer.unref();
  }
}
