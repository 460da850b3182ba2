/** Stopping one instance without trusting it: a graceful stop is bounded, then it is killed. */
import type { Instance } from '../runtimes/runtime.js';

/** How long a graceful stop may take before the instance is killed. */
export const STOP_GRACE_MS = 5_000;
/** How long kill() may take before the pool gives up waiting (and says so). */
export const KILL_WAIT_MS = 5_000;

type Outcome = { ok: true } | { ok: false; why: string };

function within(work: () => Promise<void>, ms: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ ok: false, why: `no answer within ${ms}ms` }), ms);
    let pending: Promise<void>;
    try {
      pending = work();
    } catch (e) {
      pending = Promise.reject(e);
    }
    pending.then(
      () => {
        clearTimeout(timer);
        resolve({ ok: true });
      },
      (e: unknown) => {
        clearTimeout(timer);
        resolve({ ok: false, why: e instanceof Error ? e.message : String(e) });
      },
    );
  });
}

/** Resolves with a problem description when the instance did not stop cleanly, else undefined. */
export async function stopInstance(instance: Instance, hard: boolean): Promise<string | undefined> {
  let problem: string | undefined;
  if (!hard) {
    const stopped = await within(() => instance.stop(), STOP_GRACE_MS);
    if (stopped.ok) return undefined;
    problem = `stop failed (${stopped.why}), killed`;
  }
  const killed = await within(() => instance.kill(), KILL_WAIT_MS);
  if (!killed.ok) return `kill failed: ${killed.why}`;
  return problem;
}
