/**
 * Local locks: one holder per key (a call id), waiters served first come first served, every wait
 * bounded. A call's locks are released when the call ends, whatever way it ends.
 */
import { TernError } from '../core/errors.js';

const MAX_WAITERS_PER_KEY = 1000;

interface Waiter {
  owner: string;
  grant(): void;
}

interface Held {
  owner: string;
  waiters: Waiter[];
}

export class LocalLocks {
  private readonly held = new Map<string, Held>();
  private readonly byOwner = new Map<string, Set<string>>();
  /** Cancels of the waits of each owner: a call that ends stops waiting. */
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(private readonly waitMs: number) {}

  holder(key: string): string | undefined {
    return this.held.get(key)?.owner;
  }

  /** Resolves once `owner` holds the lock (at once if it already does); 409 conflict past the wait. */
  lock(key: string, owner: string): Promise<void> {
    const h = this.held.get(key);
    if (!h) {
      this.take(key, owner, []);
      return Promise.resolve();
    }
    if (h.owner === owner) return Promise.resolve();
    if (h.waiters.length >= MAX_WAITERS_PER_KEY)
      return Promise.reject(new TernError('conflict', `lock "${key}": ${h.waiters.length} calls already wait for it`));
    return new Promise<void>((resolve, reject) => {
      let cancels = this.waiting.get(owner);
      if (!cancels) this.waiting.set(owner, (cancels = new Set()));
      const ownerCancels = cancels;
      const stopWaiting = (err: TernError | undefined) => {
        clearTimeout(timer);
        ownerCancels.delete(cancel);
        if (ownerCancels.size === 0 && this.waiting.get(owner) === ownerCancels) this.waiting.delete(owner);
        if (err) {
          const i = h.waiters.indexOf(waiter);
          if (i >= 0) h.waiters.splice(i, 1);
          reject(err);
        } else resolve();
      };
      const cancel = () => stopWaiting(new TernError('conflict', `lock "${key}": the call ended while waiting`));
      const timer = setTimeout(
        () =>
          stopWaiting(
            new TernError(
              'conflict',
              `lock "${key}" not acquired within ${this.waitMs} ms (held by call ${this.held.get(key)?.owner ?? '?'})`,
            ),
          ),
        this.waitMs,
      );
      const waiter: Waiter = { owner, grant: () => stopWaiting(undefined) };
      ownerCancels.add(cancel);
      h.waiters.push(waiter);
    });
  }

  /** Release a lock `owner` holds; 400 when it does not hold it. */
  unlock(key: string, owner: string): void {
    const h = this.held.get(key);
    if (!h || h.owner !== owner) throw new TernError('bad_request', `lock "${key}" is not held by this call`);
    this.release(key, h);
  }

  /** Everything `owner` still holds (its call ended). */
  releaseAll(owner: string): void {
    const cancels = this.waiting.get(owner);
    if (cancels) for (const cancel of [...cancels]) cancel();
    const keys = this.byOwner.get(owner);
    if (!keys) return;
    for (const key of [...keys]) {
      const h = this.held.get(key);
      if (h && h.owner === owner) this.release(key, h);
    }
    this.byOwner.delete(owner);
  }

  private take(key: string, owner: string, waiters: Waiter[]): void {
    this.held.set(key, { owner, waiters });
    let keys = this.byOwner.get(owner);
    if (!keys) this.byOwner.set(owner, (keys = new Set()));
    keys.add(key);
  }

  private release(key: string, h: Held): void {
    const keys = this.byOwner.get(h.owner);
    keys?.delete(key);
    if (keys?.size === 0) this.byOwner.delete(h.owner);
    const next = h.waiters.shift();
    if (!next) {
      this.held.delete(key);
      return;
    }
    this.take(key, next.owner, h.waiters);
    next.grant();
  }
}
