/** The tinyFaaS sieve as the node reference runs it inline: primes up to n, their count and the largest. */
export const DEFAULT_N = 10_000;
export const MAX_N = 10_000_000;

export function sieve(n: number): { n: number; count: number; last: number | null } {
  if (n < 2) return { n, count: 0, last: null };
  const composite = new Uint8Array(n + 1);
  for (let i = 2; i * i <= n; i++) {
    if (composite[i]) continue;
    for (let j = i * i; j <= n; j += i) composite[j] = 1;
  }
  let count = 0;
  let last = 0;
  for (let i = 2; i <= n; i++) {
    if (!composite[i]) {
      count++;
      last = i;
    }
  }
  return { n, count, last };
}
