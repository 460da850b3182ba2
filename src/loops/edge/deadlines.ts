/**
 * The timeouts of the calls running on an edge loop, kept by one coarse timer instead of a timer
 * and an AbortController per call (most calls here end within microseconds, and a timer per call
 * cost more than the call). A call past its deadline is failed with `timeout` and its instance
 * killed, as the pool does; the check runs every TICK_MS while calls run, so a timeout fires
 * within TICK_MS of its due time.
 */
const TICK_MS = 5;

interface Entry {
  due: number;
  expire(): void;
}

export class Deadlines {
  private readonly running = new Set<Entry>();
  private timer: NodeJS.Timeout | undefined;

  /** Track a call; returns what to call when it ends (in time). */
  add(timeoutMs: number, expire: () => void): () => void {
    const entry: Entry = { due: performance.now() + timeoutMs, expire };
    this.running.add(entry);
    this.timer ??= setInterval(() => this.check(), TICK_MS);
    return () => {
      this.running.delete(entry);
    };
  }

  private check(): void {
    const now = performance.now();
    for (const entry of this.running) {
      if (entry.due > now) continue;
      this.running.delete(entry);
      entry.expire();
    }
    if (this.running.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}
