/**
 * The node's state store: the local tier (shared memory, one per node), its durability in the data
 * folder when the node is on its own, and the global tier in Redis when `redis` is configured.
 * Implements HostState for the runtimes; the admin API uses it too.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { TernError } from '../core/errors.js';
import type { HostState } from '../core/host.js';
import { StateFiles } from './files.js';
import { checkKey } from './keys.js';
import type { StateLimits } from './limits.js';
import { LocalTier } from './local.js';
import { LocalLocks } from './locks.js';
import { GlobalTier } from './redis.js';

export interface StateOptions {
  dataDir: string;
  limits: StateLimits;
  /** Redis address (redis://host:port[/db]); absent: embedded mode, state kept in <data>/state/. */
  redis?: string;
  logger: Logger;
}

export interface StateInfo {
  keys: number;
  reservedBytes: number;
  /** "embedded" (data folder) or the Redis address of the global tier. */
  global: string;
}

interface GlobalHold {
  owner: string;
  token: string;
}

export class StateService implements HostState {
  readonly local: LocalTier;
  private readonly files: StateFiles | undefined;
  private readonly global: GlobalTier | undefined;
  private readonly locks: LocalLocks;
  private readonly globalHolds = new Map<string, GlobalHold>();
  private readonly ownersWithGlobal = new Map<string, Set<string>>();
  /** Global lock waits in progress, per owner: a call that ends stops waiting. */
  private readonly globalWaits = new Map<string, Set<AbortController>>();
  /** True while values are loaded from disk: they need no writing back. */
  private restoring = false;

  static async open(o: StateOptions): Promise<StateService> {
    const service = new StateService(o);
    await service.start();
    return service;
  }

  private constructor(private readonly o: StateOptions) {
    const dir = join(o.dataDir, 'state');
    this.files = o.redis === undefined ? new StateFiles(dir, (k) => this.local.get(k), o.logger) : undefined;
    const files = this.files;
    this.local = new LocalTier(
      o.limits,
      files
        ? (k) => {
            if (!this.restoring) files.changed(k);
          }
        : undefined,
    );
    this.global = o.redis !== undefined ? new GlobalTier(o.redis, o.logger) : undefined;
    this.locks = new LocalLocks(o.limits.lockWaitMs);
  }

  private async start(): Promise<void> {
    if (this.files) {
      const stored = await this.files.load(this.o.limits.maxValueBytes);
      let skipped = 0;
      this.restoring = true;
      try {
        for (const { key, value } of stored) {
          try {
            this.local.set(key, value);
          } catch {
            skipped++;
          }
        }
      } finally {
        this.restoring = false;
      }
      if (stored.length > 0)
        this.o.logger.info(
          { event: 'state_loaded', keys: stored.length - skipped, skipped },
          `state: ${stored.length - skipped} key(s) restored from ${this.files.dir}`,
        );
    }
    await this.global?.open();
  }

  info(): StateInfo {
    return {
      keys: this.local.keyCount,
      reservedBytes: this.local.reservedBytes,
      global: this.global?.address ?? 'embedded',
    };
  }

  get hasGlobalTier(): boolean {
    return this.global !== undefined;
  }

  get(key: string): Buffer | undefined {
    return this.local.get(checkKey(key));
  }

  read(key: string, offset: number, length: number): Buffer | undefined {
    return this.local.read(checkKey(key), offset, length);
  }

  size(key: string): number | undefined {
    return this.local.size(checkKey(key));
  }

  set(key: string, value: Uint8Array): void {
    this.local.set(checkKey(key), value);
  }

  write(key: string, offset: number, bytes: Uint8Array): number {
    return this.local.write(checkKey(key), offset, bytes);
  }

  append(key: string, bytes: Uint8Array): number {
    return this.local.append(checkKey(key), bytes);
  }

  delete(key: string): boolean {
    return this.local.delete(checkKey(key));
  }

  segment(key: string): SharedArrayBuffer | undefined {
    return this.local.segment(checkKey(key));
  }

  async lock(key: string, owner: string, global: boolean): Promise<void> {
    checkKey(key);
    if (!global || !this.global) return this.locks.lock(key, owner);
    const held = this.globalHolds.get(key);
    if (held?.owner === owner) return;
    const abort = new AbortController();
    let waits = this.globalWaits.get(owner);
    if (!waits) this.globalWaits.set(owner, (waits = new Set()));
    waits.add(abort);
    let token: string;
    try {
      token = await this.global.lock(key, this.o.limits.lockWaitMs, this.o.limits.lockTtlMs, abort.signal);
    } finally {
      waits.delete(abort);
      if (waits.size === 0 && this.globalWaits.get(owner) === waits) this.globalWaits.delete(owner);
    }
    if (abort.signal.aborted) {
      // The call ended while its lock request was on the way: give the lock straight back.
      await this.global.unlock(key, token);
      throw new TernError('conflict', `global lock "${key}": the call ended while waiting`);
    }
    // Two calls of this node may race for the same key: Redis lets exactly one through.
    this.globalHolds.set(key, { owner, token });
    let keys = this.ownersWithGlobal.get(owner);
    if (!keys) this.ownersWithGlobal.set(owner, (keys = new Set()));
    keys.add(key);
  }

  async unlock(key: string, owner: string, global: boolean): Promise<void> {
    checkKey(key);
    if (!global || !this.global) return this.locks.unlock(key, owner);
    const held = this.globalHolds.get(key);
    if (!held || held.owner !== owner)
      throw new TernError('bad_request', `global lock "${key}" is not held by this call`);
    await this.releaseGlobal(key, held);
  }

  async push(key: string): Promise<void> {
    checkKey(key);
    if (!this.global) {
      // Embedded: the node is its own global tier; push makes the value durable now.
      await this.files?.flush();
      return;
    }
    const value = this.local.get(key);
    if (value === undefined) await this.global.delete(key);
    else await this.global.set(key, value);
  }

  async pull(key: string): Promise<boolean> {
    checkKey(key);
    if (!this.global) return this.local.has(key);
    const value = await this.global.get(key);
    if (value === undefined) {
      this.local.delete(key);
      return false;
    }
    this.local.set(key, value);
    return true;
  }

  /** Admin access to the global tier (the local tier when there is none). */
  async globalGet(key: string): Promise<Buffer | undefined> {
    checkKey(key);
    return this.global ? this.global.get(key) : this.local.get(key);
  }

  async globalSet(key: string, value: Buffer): Promise<void> {
    checkKey(key);
    if (value.length > this.o.limits.maxValueBytes)
      throw new TernError(
        'too_large',
        `state value "${key}" is ${value.length} bytes, over the ${this.o.limits.maxValueBytes}-byte limit ([state] max-value)`,
      );
    if (this.global) await this.global.set(key, value);
    else this.local.set(key, value);
  }

  async globalDelete(key: string): Promise<boolean> {
    checkKey(key);
    return this.global ? this.global.delete(key) : this.local.delete(key);
  }

  /** A call ended: free the locks it still holds or waits for. */
  releaseOwner(owner: string): void {
    this.locks.releaseAll(owner);
    const waits = this.globalWaits.get(owner);
    if (waits) for (const abort of waits) abort.abort();
    const keys = this.ownersWithGlobal.get(owner);
    if (!keys) return;
    this.ownersWithGlobal.delete(owner);
    for (const key of keys) {
      const held = this.globalHolds.get(key);
      if (held?.owner !== owner) continue;
      this.releaseGlobal(key, held).catch((e: unknown) =>
        this.o.logger.warn(
          { event: 'state_unlock', key, err: (e as Error).message },
          `global lock "${key}" not released; it expires by itself`,
        ),
      );
    }
  }

  private async releaseGlobal(key: string, held: GlobalHold): Promise<void> {
    this.globalHolds.delete(key);
    const keys = this.ownersWithGlobal.get(held.owner);
    keys?.delete(key);
    if (keys?.size === 0) this.ownersWithGlobal.delete(held.owner);
    const released = await this.global!.unlock(key, held.token);
    if (!released)
      this.o.logger.warn(
        { event: 'state_unlock', key },
        `global lock "${key}" had expired before its release ([state] lock-ttl)`,
      );
  }

  async close(): Promise<void> {
    await this.files?.flush();
    await this.global?.close();
  }
}
