/**
 * The node's memory budget. Every instance reserves its function's `memory` MiB from the moment
 * it starts starting until it has stopped. When a pool needs room, idle instances of any pool are
 * evicted least-recently-used first; pools that wait for memory are woken when some is freed.
 */

/** An idle instance a pool is willing to give up. */
export interface EvictionCandidate {
  /** performance.now() of its last call. */
  readonly lastUsed: number;
  readonly memoryMiB: number;
  evict(): void;
}

export interface BudgetMember {
  /** Adds the idle instances it could give up (never those kept warm by min-instances). */
  evictable(into: EvictionCandidate[]): void;
  /** Memory was freed, or an idle instance appeared: retry what waits. */
  memoryFreed(): void;
}

/** `reserved`: go ahead. `wait`: memory is on its way (evictions under way). `none`: nothing to free now. */
export type ReserveOutcome = 'reserved' | 'wait' | 'none';

export class MemoryBudget {
  private used = 0;
  /** Reserved memory of instances that are stopping: it comes back soon. */
  private incoming = 0;
  private readonly members = new Set<BudgetMember>();
  /** Pools with calls waiting for memory: woken when memory frees or an idle instance appears. */
  private readonly hungry = new Set<BudgetMember>();
  /** Pools whose min-instances did not fit: woken only when memory is actually freed. */
  private readonly starved = new Set<BudgetMember>();
  private notifyScheduled = false;
  private wakeStarved = false;

  constructor(readonly capacityMiB: number) {}

  get usedMiB(): number {
    return this.used;
  }

  /** True when some pool waits for memory (checked on the warm path: keep it a field read). */
  get anyHungry(): boolean {
    return this.hungry.size !== 0;
  }

  join(member: BudgetMember): void {
    this.members.add(member);
  }

  leave(member: BudgetMember): void {
    this.members.delete(member);
    this.hungry.delete(member);
    this.starved.delete(member);
  }

  /** Reserve without evicting anything (prewarm). */
  tryReserve(mib: number): boolean {
    if (this.used + mib > this.capacityMiB) return false;
    this.used += mib;
    return true;
  }

  /**
   * Reserve `mib` for a new instance of `requester`, evicting LRU idle instances if that makes room.
   * On `wait` or `none` the requester is remembered and woken (memoryFreed) when things change.
   */
  reserve(mib: number, requester: BudgetMember): ReserveOutcome {
    if (this.tryReserve(mib)) {
      this.hungry.delete(requester);
      return 'reserved';
    }
    this.hungry.add(requester);
    const short = this.used + mib - this.capacityMiB - this.incoming;
    if (short <= 0) return 'wait';
    const candidates: EvictionCandidate[] = [];
    for (const m of this.members) m.evictable(candidates);
    candidates.sort((a, b) => a.lastUsed - b.lastUsed);
    let total = 0;
    let count = 0;
    while (count < candidates.length && total < short) total += candidates[count++]!.memoryMiB;
    if (total < short) return 'none';
    for (let i = 0; i < count; i++) candidates[i]!.evict();
    return 'wait';
  }

  /** Wake `member` the next time memory is freed (a prewarm that did not fit). */
  waitForMemory(member: BudgetMember): void {
    this.starved.add(member);
  }

  /** An instance began stopping: its memory will come back. */
  releasing(mib: number): void {
    this.incoming += mib;
  }

  /** An instance has stopped (`wasReleasing`: releasing() was called for it). */
  release(mib: number, wasReleasing: boolean): void {
    this.used -= mib;
    if (wasReleasing) this.incoming -= mib;
    this.wake(true);
  }

  /** An instance went idle somewhere: pools waiting for memory may evict it now. */
  idleAppeared(): void {
    if (this.hungry.size !== 0) this.wake(false);
  }

  /** Wakes waiting pools once, after the current call stack (no re-entrance into the caller). */
  private wake(freed: boolean): void {
    this.wakeStarved ||= freed;
    if (this.notifyScheduled || (this.hungry.size === 0 && !(this.wakeStarved && this.starved.size !== 0))) return;
    this.notifyScheduled = true;
    queueMicrotask(() => {
      this.notifyScheduled = false;
      const waiting = new Set(this.hungry);
      this.hungry.clear();
      if (this.wakeStarved) {
        for (const m of this.starved) waiting.add(m);
        this.starved.clear();
      }
      this.wakeStarved = false;
      for (const m of waiting) m.memoryFreed();
    });
  }
}
