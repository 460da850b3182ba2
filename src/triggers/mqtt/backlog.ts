/**
 * Paces message handling: at most `limit` messages run at once, the rest wait in a FIFO bounded by
 * count and bytes. Needed for QoS 0 (no flow control at all) and for QoS 1 too: a broker is meant
 * to hold back past the node's Receive Maximum, but mosquitto 2.0.11 stops doing so once the node
 * starts acknowledging out of step with delivery, and a burst would otherwise reach the function's
 * pool all at once and be refused there (429) instead of waiting its turn.
 */

export interface Job {
  /** Payload size, counted against the byte bound while queued. */
  readonly bytes: number;
  run(): Promise<void>;
  /** Called instead of `run` when the backlog is cleared. */
  cancel(): void;
}

export class Backlog {
  private readonly queue: Job[] = [];
  private queuedBytes = 0;
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly maxQueued: number,
    private readonly maxBytes: number,
  ) {}

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Run now or queue; false when the backlog is full (the caller decides what a refusal means). */
  offer(job: Job): boolean {
    if (this.active < this.limit) {
      this.start(job);
      return true;
    }
    if (this.queue.length >= this.maxQueued || this.queuedBytes + job.bytes > this.maxBytes) return false;
    this.queue.push(job);
    this.queuedBytes += job.bytes;
    return true;
  }

  /** Cancel every queued job (the node is stopping). */
  clear(): void {
    const jobs = this.queue.splice(0);
    this.queuedBytes = 0;
    for (const job of jobs) job.cancel();
    this.settle();
  }

  /** Resolves when nothing runs and nothing waits. */
  async idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private start(job: Job): void {
    this.active++;
    void job
      .run()
      .catch(() => undefined)
      .finally(() => {
        this.active--;
        const next = this.queue.shift();
        if (next !== undefined) {
          this.queuedBytes -= next.bytes;
          this.start(next);
        }
        this.settle();
      });
  }

  private settle(): void {
    if (this.active > 0 || this.queue.length > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
