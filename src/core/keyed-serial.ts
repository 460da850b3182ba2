/** Runs jobs one at a time per key (one change per function at a time), and refuses new ones once closed. */
import { TernError } from './errors.js';

export class KeyedSerial {
  private readonly tails = new Map<string, Promise<void>>();
  private closed = false;

  run<T>(key: string, job: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new TernError('unavailable', 'closed: no new work is accepted'));
    const run = (this.tails.get(key) ?? Promise.resolve()).then(job);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }

  /** Accept jobs again (a registry reopened). */
  open(): void {
    this.closed = false;
  }

  /** Refuse new jobs and wait for the running ones. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.tails.values()]);
  }
}
