/**
 * The physical limit: a bare node:http server on loopback doing the functions' work inline, no
 * platform in between. `/hello` answers a hello, `/sieve?n=N` runs the sieve. Prints "listening PORT".
 * Run: node dist/bench/reference/bare-http.js
 */
import { createServer } from 'node:http';
import { handleReference } from './handler.js';

const server = createServer(handleReference);

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`);
});
const close = () => server.close(() => process.exit(0));
process.on('SIGTERM', close);
process.on('SIGINT', close);
