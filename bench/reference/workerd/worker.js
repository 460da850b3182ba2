// The same hello (and the tinyFaaS sieve) as a Cloudflare Worker, served by workerd for the bench.
const DEFAULT_N = 10000;
const MAX_N = 10000000;

function sieve(n) {
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

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const body = await request.text();
    if (url.pathname === '/sieve') {
      const raw = url.searchParams.get('n') ?? (body.trim() || String(DEFAULT_N));
      const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
      if (!(n <= MAX_N)) return Response.json({ error: 'bad n' }, { status: 400 });
      return Response.json(sieve(n));
    }
    return new Response('Hello from workerd!\n', { headers: { 'content-type': 'text/plain' } });
  },
};
