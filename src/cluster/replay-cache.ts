/**
 * Nonces of node-to-node requests seen within the time window, so a captured request sent again
 * is refused. A nonce is kept until its request's timestamp leaves the window: after that the
 * timestamp check refuses the copy anyway. Bounded: when full (a flood of valid requests, which
 * only a holder of the cluster secret can make), new requests are refused rather than old nonces
 * forgotten, since forgetting one would let its request be replayed.
 */
export class ReplayCache {
  /** nonce -> when it may be forgotten (ms since the epoch); insertion order is roughly expiry order. */
  private readonly seen = new Map<string, number>();

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.seen.size;
  }

  /** 'fresh' records the nonce; 'replayed' if it was seen; 'full' if there is no room for it. */
  admit(nonce: string, forgetAt: number, now: number): 'fresh' | 'replayed' | 'full' {
    this.purge(now);
    if (this.seen.has(nonce)) return 'replayed';
    if (this.seen.size >= this.maxEntries) this.purge(now, true);
    if (this.seen.size >= this.maxEntries) return 'full';
    this.seen.set(nonce, forgetAt);
    return 'fresh';
  }

  /** Drop expired nonces from the front; `all` scans the whole map (only when it is full). */
  private purge(now: number, all = false): void {
    for (const [nonce, forgetAt] of this.seen) {
      if (forgetAt > now) {
        if (!all) return;
        continue;
      }
      this.seen.delete(nonce);
    }
  }
}
