/**
 * Decides whether spinning for the other thread is worth it. A spin that sees its answer in time
 * saves a futex or event-loop wake-up (~10–40 µs on a VM); one that times out only burned a core,
 * and when threads outnumber free cores the spinner even starves the thread it waits for. So: after
 * a few spins in a row come back empty, stop spinning for a while, then try again.
 */
const FAILURES_TO_BACK_OFF = 3;
const CALLS_TO_SKIP = 64;

export class SpinGovernor {
  private failures = 0;
  private skip = 0;

  constructor(readonly budgetUs: number) {}

  /** Spin this time? */
  allowed(): boolean {
    if (this.budgetUs <= 0) return false;
    if (this.skip > 0) {
      this.skip--;
      return false;
    }
    return true;
  }

  record(caught: boolean): void {
    if (caught) this.failures = 0;
    else if (++this.failures >= FAILURES_TO_BACK_OFF) {
      this.failures = 0;
      this.skip = CALLS_TO_SKIP;
    }
  }

  /** Spin until `done()` or the budget is spent; true when done() came true. */
  spin(done: () => boolean): boolean {
    const until = performance.now() + this.budgetUs / 1000;
    let caught = done();
    while (!caught && performance.now() < until) caught = done();
    this.record(caught);
    return caught;
  }
}
