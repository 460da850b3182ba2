/** setTimeout's largest delay: longer waits go in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A wait that ends early, with the signal's reason, when the signal aborts. */
export async function sleep(msToWait: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) throw signal.reason;
  let left = msToWait;
  while (left > 0) {
    const step = Math.min(left, MAX_TIMER_MS);
    await sleepOnce(step, signal);
    left -= step;
  }
}

function sleepOnce(msToWait: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, msToWait);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
