/**
 * The physical limit: a bare node:http server on loopback doing the functions' work inline, no
 * platform in between. `/hello` answers a hello, `/sieve?n=N` runs the sieve. Prints "listening PORT".
 * Run: node dist/bench/reference/bare-http.js
 */
import { createServer } from 'node:http';
import { DEFAULT_N, MAX_N, sieve } from './sieve.js';

const HELLO = Buffer.from('Hello from node:http!\n');

const server = createServer((req, res) => {
  // Read the body like a function would receive it, then answer.
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (c: Buffer) => {
    size += c.length;
    if (size <= 1 << 20) chunks.push(c);
  });
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/sieve') {
      const raw = url.searchParams.get('n') ?? (Buffer.concat(chunks).toString().trim() || String(DEFAULT_N));
      const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
      if (!(n <= MAX_N)) {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad n"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(sieve(n)));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': HELLO.length }).end(HELLO);
  });
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
const close = () => server.close(() => process.exit(0));
process.on('SIGTERM', close);
process.on('SIGINT', close);
