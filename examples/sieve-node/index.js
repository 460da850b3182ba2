// Sieve of Eratosthenes: the number of primes up to N and the largest of them.
const DEFAULT_N = 10_000;
const MAX_N = 10_000_000;

const bad = (error) => ({ status: 400, body: { error } });

export default function handle(req) {
  const raw = req.params.n || req.text().trim() || String(DEFAULT_N);
  if (!/^\d+$/.test(raw)) return bad(`n must be an integer, not ${JSON.stringify(raw.slice(0, 40))}`);
  const n = Number(raw);
  if (n > MAX_N) return bad(`n must be from 0 to ${MAX_N}`);
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
