/** The bare reference's request handler: the functions' work done inline, no platform in between. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DEFAULT_N, MAX_N, sieve } from './sieve.js';

const HELLO = Buffer.from('Hello from node:http!\n');

export function handleReference(req: IncomingMessage, res: ServerResponse): void {
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
}
