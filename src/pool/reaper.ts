/**
 * One background timer for the whole node: it fires at the earliest moment some pool has work
 * (an idle instance past its keepalive, a min-instances refill after a failed start) and never
 * keeps the process alive. Pools tell it about new deadlines with `wake`, which is a compare
 * when the timer is already due earlier (the common case on the warm path).
 */
export interface Reapable {
  /** Stops what expired at `now`; returns the next moment it needs a visit (Infinity: none). */
  reap(now: number): number;
}

export class Reaper {
  private readonly members = new Set<Reapable>();
  private timer: NodeJS.Timeout | undefined;
  private nextAt = Infinity;
  private closed = false;

  add(member: Reapable): void {
    this.members.add(member);
  }

  delete(member: Reapable): void {
    this.members.delete(member);
  }

  /** Make sure the reaper runs no later than `at` (performance.now() time). */
  wake(at: number): void {
    if (at < this.nextAt && !this.closed) this.arm(at);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.nextAt = Infinity;
  }

  private arm(at: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.nextAt = at;
    this.timer = setTimeout(this.tick, Math.max(1, Math.ceil(at - performance.now())));
    this.timer.unref();
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    this.nextAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    for (const m of this.members) next = Math.min(next, m.reap(now));
    if (next !== Infinity) this.wake(next);
  };
}
