/** Polls `check` every 25 ms until it holds; fails naming `what` after `limitMs`. */
export async function waitFor(check: () => Promise<boolean>, what: string, limitMs = 20_000): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > limitMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
