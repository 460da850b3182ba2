/**
 * The cluster's function registry, as one node sees it: a folder store (DirRegistry: code on disk,
 * its validation and atomic versions) plus the archive each function was deployed from, kept to
 * serve to peers. It implements Registry, so the gateway and the scheduler use it as they use the
 * embedded store; RegistrySync (registry-sync.ts) moves changes between it and etcd.
 *
 * Versions: a function's version is the one its deploying node computed; every node shows and
 * runs that version. The local store may hash the prepared code differently (installed
 * dependencies are part of its folder), so the archive store remembers which local version is
 * which cluster version.
 *
 * Conflicts: a change made here and not yet written to etcd is "pending"; until it is written,
 * what etcd says about that function is not applied here (this node's change is the newer one).
 */
import type { Logger } from 'pino';
import { packFolder } from '../registry/archive.js';
import type { ArchiveType, DeployedFunction, DeployOutcome, Registry, RegistryEvent } from '../registry/registry.js';
import type { ArchiveStore, HeldArchive } from './archive-store.js';
import type { LiveFunctionRecord } from './records.js';
import { KeyedSerial } from '../core/keyed-serial.js';

export interface EtcdRegistryOptions {
  /** The node's folder store; this registry owns it (opens and closes it). */
  local: Registry;
  store: ArchiveStore;
  logger: Logger;
}

export interface PendingChange {
  generation: number;
  /** Publish only if etcd has no record of the name (a function this node had before it joined). */
  ifAbsent: boolean;
}

/** What this node would write to etcd for a function. */
export type Publishable =
  { kind: 'live'; version: string; deployedAt: string; archive: HeldArchive } | { kind: 'deleted'; version: string };

export class EtcdRegistry implements Registry {
  private readonly fns = new Map<string, DeployedFunction>();
  /** Versions removed here whose tombstone is not in etcd yet. */
  private readonly tombstones = new Map<string, string>();
  private readonly pending = new Map<string, PendingChange>();
  private generation = 0;
  /** One change per function at a time. */
  private readonly serial = new KeyedSerial();
  private readonly listeners = new Set<(event: RegistryEvent) => void>();
  private readonly changeListeners = new Set<(name: string) => void>();

  constructor(private readonly o: EtcdRegistryOptions) {}

  async open(): Promise<void> {
    this.serial.open();
    await this.o.local.open();
    await this.o.store.open();
    this.fns.clear();
    for (const fn of this.o.local.list()) this.fns.set(fn.spec.name, this.clusterView(fn));
  }

  list(): DeployedFunction[] {
    return [...this.fns.values()].sort((a, b) => (a.spec.name < b.spec.name ? -1 : 1));
  }

  get(name: string): DeployedFunction | undefined {
    return this.fns.get(name);
  }

  deploy(name: string, archive: Buffer, type: ArchiveType): Promise<DeployOutcome> {
    return this.serial.run(name, async () => {
      const outcome = await this.install(name, archive, type, undefined);
      this.markPending(name, false);
      return outcome;
    });
  }

  /** A folder is deployed as the archive of itself, so peers can fetch it like any other deploy. */
  async deployFolder(name: string, folder: string): Promise<DeployOutcome> {
    return this.deploy(name, await packFolder(folder), 'tar.gz');
  }

  remove(name: string): Promise<DeployedFunction | undefined> {
    return this.serial.run(name, async () => {
      const previous = await this.removeHere(name);
      if (previous) {
        this.tombstones.set(name, previous.version);
        this.markPending(name, false);
      }
      return previous;
    });
  }

  async prune(name: string): Promise<void> {
    await this.o.local.prune(name);
  }

  subscribe(listener: (event: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    await this.serial.close();
    this.listeners.clear();
    this.changeListeners.clear();
    await this.o.local.close();
  }

  // ---- the sync side ----

  /** Called with a function's name whenever a change here waits to be published. */
  onLocalChange(listener: (name: string) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  pendingNames(): string[] {
    return [...this.pending.keys()];
  }

  pendingChange(name: string): PendingChange | undefined {
    return this.pending.get(name);
  }

  /** A function this node has and etcd has no record of: offer it to the cluster. */
  offer(name: string): void {
    if (this.fns.has(name) && !this.pending.has(name)) this.markPending(name, true);
  }

  /**
   * etcd holds an older record of `name` than the newest this node has seen (one put back into
   * etcd): write the newest again, if this node has what it says (that version, or no function).
   */
  reassert(name: string, newest: { deleted: boolean; version: string }): void {
    if (this.pending.has(name)) return;
    if (newest.deleted && !this.fns.has(name)) {
      this.tombstones.set(name, newest.version);
      this.markPending(name, false);
    } else if (!newest.deleted && this.fns.get(name)?.version === newest.version) {
      this.markPending(name, false);
    }
  }

  /** The change of that generation is in etcd (or lost a race to another node's record). */
  settled(name: string, generation: number): void {
    if (this.pending.get(name)?.generation !== generation) return;
    this.pending.delete(name);
    if (!this.fns.has(name)) this.tombstones.delete(name);
  }

  /** What to write to etcd for `name` now; packs the code of a function that has no archive yet. */
  publishable(name: string): Promise<Publishable | undefined> {
    return this.serial.run(name, async () => {
      const fn = this.fns.get(name);
      if (!fn) {
        const version = this.tombstones.get(name);
        return version === undefined ? undefined : { kind: 'deleted', version };
      }
      let held = this.o.store.get(name);
      if (held?.version !== fn.version) {
        // Deployed before this node was in a cluster: its archive is its current code folder.
        const local = this.o.local.get(name);
        if (!local) return undefined;
        held = await this.o.store.put(
          name,
          { version: fn.version, localVersion: local.version, type: 'tar.gz' },
          await packFolder(local.dir),
        );
      }
      return { kind: 'live', version: fn.version, deployedAt: fn.deployedAt, archive: held };
    });
  }

  /**
   * Bring `name` to the version etcd records, its archive fetched by `fetch` and deployed through
   * the same validation as any deploy. Skipped when this node has a newer change of its own.
   */
  adopt(
    name: string,
    record: LiveFunctionRecord,
    fetch: () => Promise<Buffer>,
  ): Promise<'current' | 'pending' | 'deployed'> {
    return this.serial.run(name, async () => {
      if (this.pending.has(name)) return 'pending';
      if (this.fns.get(name)?.version === record.version) return 'current';
      const archive = await fetch();
      await this.install(name, archive, record.archive.type, record.version);
      return 'deployed';
    });
  }

  /** etcd says the function was deleted: remove it here too (unless this node has a newer change). */
  drop(name: string): Promise<boolean> {
    return this.serial.run(name, async () => {
      if (this.pending.has(name)) return false;
      return (await this.removeHere(name)) !== undefined;
    });
  }

  // ---- internals ----

  private clusterView(local: DeployedFunction): DeployedFunction {
    const held = this.o.store.get(local.spec.name);
    return held && held.localVersion === local.version ? { ...local, version: held.version } : local;
  }

  /** Deploy into the folder store, keep the archive, emit the event with the cluster version. */
  private async install(
    name: string,
    archive: Buffer,
    type: ArchiveType,
    clusterVersion: string | undefined,
  ): Promise<DeployOutcome> {
    const outcome = await this.o.local.deploy(name, archive, type);
    const previous = this.fns.get(name);
    const unchanged = previous !== undefined && outcome.previous?.version === outcome.fn.version;
    // Same code as what runs here: keep its cluster version, so an identical redeploy changes nothing anywhere.
    const version = clusterVersion ?? (unchanged ? previous.version : outcome.fn.version);
    await this.o.store.put(name, { version, localVersion: outcome.fn.version, type }, archive);
    const fn: DeployedFunction = { ...outcome.fn, version };
    this.fns.set(name, fn);
    this.tombstones.delete(name);
    this.emit(previous ? { type: 'deployed', fn, previous } : { type: 'deployed', fn });
    return previous ? { fn, created: false, previous } : { fn, created: true };
  }

  private async removeHere(name: string): Promise<DeployedFunction | undefined> {
    const previous = this.fns.get(name);
    const removed = await this.o.local.remove(name);
    if (!removed || !previous) return undefined;
    this.fns.delete(name);
    await this.o.store.remove(name);
    this.emit({ type: 'removed', name, previous });
    return previous;
  }

  private markPending(name: string, ifAbsent: boolean): void {
    const existing = this.pending.get(name);
    this.pending.set(name, { generation: ++this.generation, ifAbsent: ifAbsent && (existing?.ifAbsent ?? true) });
    for (const listener of this.changeListeners) listener(name);
  }

  private emit(event: RegistryEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (e) {
        this.o.logger.error(
          { event: 'registry_listener_failed', err: (e as Error).message },
          'a registry listener threw',
        );
      }
    }
  }
}
