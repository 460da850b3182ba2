/**
 * A real MQTT broker for tests: Debian's `mosquitto` on a free loopback port, with a config file
 * and (optionally) its persistence database in a temp folder. Ready when it says it is running;
 * `stop()` ends it and removes the folder.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../cluster/etcd.js';

export interface Mosquitto {
  url: string;
  port: number;
  /** Stop for good and remove the folder. */
  stop(): Promise<void>;
  /** Stop (SIGTERM: the database is saved), keeping the folder for `start`. */
  pause(): Promise<void>;
  /** Start again on the same port with the same database. */
  start(): Promise<void>;
  output(): string;
}

const BINARY = ['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => existsSync(p)) ?? 'mosquitto';

export interface MosquittoOptions {
  persistence?: boolean;
  /** Serve mqtts:// with this server certificate (PEM files); the URL then says mqtts. */
  tls?: { cert: string; key: string };
  /** Require a login: user name -> password (written with mosquitto_passwd). */
  users?: Record<string, string>;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'tern-mosquitto-'));
  const port = await freePort();
  const passwordFile = join(dir, 'passwords');
  if (opts.users) {
    await writeFile(passwordFile, '');
    for (const [user, password] of Object.entries(opts.users))
      execFileSync('mosquitto_passwd', ['-b', passwordFile, user, password]);
  }
  const lines = [
    `listener ${port} 127.0.0.1`,
    ...(opts.tls ? [`certfile ${opts.tls.cert}`, `keyfile ${opts.tls.key}`] : []),
    ...(opts.users ? ['allow_anonymous false', `password_file ${passwordFile}`] : ['allow_anonymous true']),
    `persistence ${opts.persistence ? 'true' : 'false'}`,
    `persistence_location ${dir}/`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    // Started as root (the test machine), mosquitto would switch to user "mosquitto", who cannot write the temp folder.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
  ];
  const config = join(dir, 'mosquitto.conf');
  await writeFile(config, `${lines.join('\n')}\n`);
  let proc: ChildProcess | undefined;
  let out = '';

  const launch = async () => {
    const child = spawn(BINARY, ['-c', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = child;
    let mine = '';
    const onData = (c: Buffer) => {
      out += c.toString();
      mine += c.toString();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`mosquitto did not start:\n${mine}`)), 15_000);
      const check = () => {
        if (/mosquitto version [\d.]+ running/.test(mine)) {
          clearTimeout(timer);
          child.stderr!.off('data', check);
          resolve();
        }
      };
      child.stderr!.on('data', check);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`mosquitto exited with ${code}:\n${mine}`));
      });
    });
  };

  const kill = async () => {
    const child = proc;
    proc = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };

  await launch();
  return {
    url: `${opts.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    port,
    output: () => out,
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
    pause: kill,
    start: launch,
  };
}

/** A private CA and a server certificate for 127.0.0.1 signed by it, made with openssl in `dir`. */
export function makeCertificates(dir: string): { ca: string; cert: string; key: string } {
  const f = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });
  const key = (name: string) => ['-newkey', 'rsa:2048', '-nodes', '-keyout', f(name)];
  openssl('req', '-x509', ...key('ca-key.pem'), '-days', '1', '-subj', '/CN=tern test CA', '-out', f('ca.pem'));
  openssl('req', ...key('server-key.pem'), '-subj', '/CN=127.0.0.1', '-out', f('server.csr'));
  writeFileSync(f('san.cnf'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca-key.pem'),
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    f('san.cnf'),
    '-out',
    f('server.pem'),
  );
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server-key.pem') };
}
