/**
 * The global tier: values and locks in Redis, shared by every node configured with the same
 * `redis` address. Values are plain Redis strings under `tern:state:<key>`; a global lock is
 * `SET tern:lock:<key> <token> NX PX <ttl>`, released by a Lua compare-and-delete so that only
 * the holder's token frees it (an expired holder cannot free a later one's lock).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { TernError } from '../core/errors.js';

const VALUE_PREFIX = 'tern:state:';
const LOCK_PREFIX = 'tern:lock:';
const COMMAND_TIMEOUT_MS = 5_000;
const CONNECT_WAIT_MS = 5_000;
const RELEASE_SCRIPT =
  'if redis.call("get", KEYS[1]) == ARGV[1] then return redis.call("del", KEYS[1]) else return 0 end';

export class GlobalTier {
  private readonly redis: Redis;
  private closed = false;

  constructor(
    readonly address: string,
    private readonly logger: Logger,
  ) {
    this.redis = new Redis(address, {
      lazyConnect: true,
      connectTimeout: CONNECT_WAIT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
      // Fail fast while disconnected rather than queue calls without bound; ioredis keeps reconnecting.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(100 * times, 2_000),
    });
    let down = false;
    this.redis.on('error', (e: Error) => {
      if (!down && !this.closed)
        logger.warn({ event: 'redis', address, err: e.message }, `global state (redis ${address}): ${e.message}`);
      down = true;
    });
    this.redis.on('ready', () => {
      if (down) logger.info({ event: 'redis', address }, `global state (redis ${address}) reachable again`);
      down = false;
    });
  }

  /** Connect, waiting a bounded time; a node whose Redis is down still starts (calls then get 503). */
  async open(): Promise<void> {
    try {
      await this.redis.connect();
      this.logger.info({ event: 'redis', address: this.address }, `global state tier: redis ${this.address}`);
    } catch (e) {
      this.logger.warn(
        { event: 'redis', address: this.address, err: (e as Error).message },
        `global state (redis ${this.address}) not reachable yet`,
      );
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    const v = await this.run(() => this.redis.getBuffer(VALUE_PREFIX + key));
    return v ?? undefined;
  }

  async set(key: string, value: Buffer): Promise<void> {
    await this.run(() => this.redis.set(VALUE_PREFIX + key, value));
  }

  async delete(key: string): Promise<boolean> {
    return (await this.run(() => this.redis.del(VALUE_PREFIX + key))) > 0;
  }

  /** Take the global lock of `key`: resolves with the token that releases it; 409 past `waitMs`. */
  async lock(key: string, waitMs: number, ttlMs: number, signal?: AbortSignal): Promise<string> {
    const token = randomBytes(12).toString('base64url');
    const deadline = performance.now() + waitMs;
    let pause = 2;
    for (;;) {
      const ok = await this.run(() => this.redis.set(LOCK_PREFIX + key, token, 'PX', ttlMs, 'NX'));
      if (ok === 'OK') return token;
      if (signal?.aborted) throw new TernError('conflict', `global lock "${key}": the call ended while waiting`);
      const left = deadline - performance.now();
      if (left <= 0) throw new TernError('conflict', `global lock "${key}" not acquired within ${waitMs} ms`);
      await sleep(Math.min(pause, left));
      pause = Math.min(pause * 2, 50);
    }
  }

  /** Release with the token; false when the lock had already expired or passed to another holder. */
  async unlock(key: string, token: string): Promise<boolean> {
    const n = await this.run(() => this.redis.eval(RELEASE_SCRIPT, 1, LOCK_PREFIX + key, token));
    return n === 1;
  }

  async close(): Promise<void> {
    this.closed = true;
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  private async run<T>(command: () => Promise<T>): Promise<T> {
    if (this.closed) throw new TernError('unavailable', 'the global state tier is closed (the node is stopping)');
    try {
      return await command();
    } catch (e) {
      throw new TernError('unavailable', `global state (redis ${this.address}) unavailable: ${(e as Error).message}`);
    }
  }
}
