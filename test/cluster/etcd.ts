/**
 * A real etcd for tests: `etcd` (Debian's etcd-server) on free loopback ports with a temp data
 * folder. Ready when etcd says it serves clients; stopped (and its folder removed) by `stop()`.
 * With `tls`, clients connect over https and must show a certificate signed by `tls.ca`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EtcdServer {
  url: string;
  dataDir: string;
  /** Stop for good and remove the data folder. */
  stop(): Promise<void>;
  /** An outage: SIGKILL, data kept for `restart`. */
  pause(): Promise<void>;
  /** Start again on the same ports (same data unless `fresh`). */
  restart(opts?: { fresh?: boolean }): Promise<void>;
  output(): string;
}

export interface EtcdTls {
  /** PEM files: etcd's server certificate and key, and the CA its clients' certificates must chain to. */
  cert: string;
  key: string;
  ca: string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

const READY = /serving client traffic|ready to serve client requests/;

export async function startEtcd(timeoutMs = 30_000, opts: { tls?: EtcdTls } = {}): Promise<EtcdServer> {
  const root = await mkdtemp(join(tmpdir(), 'tern-etcd-'));
  const clientPort = await freePort();
  const peerPort = await freePort();
  const url = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const tlsArgs = opts.tls
    ? ['--cert-file', opts.tls.cert, '--key-file', opts.tls.key, '--trusted-ca-file', opts.tls.ca, '--client-cert-auth']
    : [];
  let dataDir = join(root, 'data');
  let proc: ChildProcess | undefined;
  let out = '';
  let generation = 0;

  const launch = async () => {
    const peer = `http://127.0.0.1:${peerPort}`;
    const child = spawn(
      'etcd',
      [
        '--name',
        'tern-test',
        '--data-dir',
        dataDir,
        '--listen-client-urls',
        url,
        '--advertise-client-urls',
        url,
        '--listen-peer-urls',
        peer,
        '--initial-advertise-peer-urls',
        peer,
        '--initial-cluster',
        `tern-test=${peer}`,
        '--logger',
        'zap',
        ...tlsArgs,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc = child;
    let mine = '';
    const onData = (c: Buffer) => {
      out += c.toString();
      mine += c.toString();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`etcd did not start within ${timeoutMs} ms:\n${mine}`)),
        timeoutMs,
      );
      const check = () => {
        if (READY.test(mine)) {
          clearTimeout(timer);
          child.stderr!.off('data', check);
          child.stdout!.off('data', check);
          resolve();
        }
      };
      child.stderr!.on('data', check);
      child.stdout!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`etcd exited with ${code}:\n${mine}`));
      });
    });
  };

  const kill = async (signal: NodeJS.Signals) => {
    const child = proc;
    proc = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  return {
    url,
    get dataDir() {
      return dataDir;
    },
    output: () => out,
    async stop() {
      await kill('SIGTERM');
      await rm(root, { recursive: true, force: true });
    },
    pause: () => kill('SIGKILL'),
    async restart(opts = {}) {
      await kill('SIGKILL');
      if (opts.fresh) dataDir = join(root, `data-${++generation}`);
      await launch();
    },
  };
}
