/**
 * A small bounded map for the CoAP trigger's per-peer state (deduplication, block-wise
 * transfers): entries expire after a lifetime and the oldest go first when a count or byte
 * bound is hit, so no peer can make the trigger hold unbounded memory.
 */
export interface LruLimits<V> {
  maxEntries: number;
  maxBytes: number;
  ttlMs: number;
  sizeOf: (value: V) => number;
  /** Reading an entry restarts its lifetime (idle expiry) instead of counting from insertion. */
  sliding: boolean;
}

interface Slot<V> {
  value: V;
  size: number;
  expiresAt: number;
}

export class BoundedLru<V> {
  private readonly slots = new Map<string, Slot<V>>();
  private bytes = 0;

  constructor(private readonly limits: LruLimits<V>) {}

  get size(): number {
    return this.slots.size;
  }

  get(key: string, now = performance.now()): V | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    if (slot.expiresAt <= now) {
      this.delete(key);
      return undefined;
    }
    if (this.limits.sliding) {
      // Re-insert so Map order stays oldest-first for eviction.
      this.slots.delete(key);
      slot.expiresAt = now + this.limits.ttlMs;
      this.slots.set(key, slot);
    }
    return slot.value;
  }

  /** Insert or replace; also re-measures a value that grew in place. */
  set(key: string, value: V, now = performance.now()): void {
    this.delete(key);
    const size = this.limits.sizeOf(value);
    this.slots.set(key, { value, size, expiresAt: now + this.limits.ttlMs });
    this.bytes += size;
    this.evict(now);
  }

  delete(key: string): boolean {
    const slot = this.slots.get(key);
    if (slot === undefined) return false;
    this.slots.delete(key);
    this.bytes -= slot.size;
    return true;
  }

  clear(): void {
    this.slots.clear();
    this.bytes = 0;
  }

  private evict(now: number): void {
    for (const [key, slot] of this.slots) {
      const over = this.slots.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes;
      if (!over && slot.expiresAt > now) break;
      this.delete(key);
    }
  }
}
