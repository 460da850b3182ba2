/**
 * The limit for N cores: the bare reference in N processes sharing one listening socket through
 * node:cluster (one container per core, as a FaaS peer would run). Prints "listening PORT" once
 * every worker listens. Run: node dist/bench/reference/cluster-http.js N
 */
import cluster from 'node:cluster';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleReference } from './handler.js';

if (cluster.isPrimary) {
  const workers = Number(process.argv[2] ?? '1');
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) {
    process.stderr.write('cluster-http: the number of processes must be an integer from 1 to 256\n');
    process.exit(2);
  }
  let listening = 0;
  cluster.on('listening', (_worker, address: AddressInfo) => {
    if (++listening === workers) process.stdout.write(`listening ${address.port}\n`);
  });
  cluster.on('exit', (_worker, code) => {
    if (!stopping) {
      process.stderr.write(`cluster-http: a worker exited (${code})\n`);
      process.exit(1);
    }
  });
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  // Port 0 in a cluster worker: the primary picks one port and shares it with every worker.
  createServer(handleReference).listen(0, '127.0.0.1');
}
