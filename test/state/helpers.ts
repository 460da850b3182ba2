/**
 * Shared set-up of the state tests: a real redis-server on a free loopback port with its own temp
 * folder, the wasm examples and fixtures built with their build.sh, deploys of function folders.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { packFolder } from '../helpers/archive.js';
import { REPO, type TernProcess } from '../helpers/node.js';

export const EXAMPLES = join(REPO, 'examples');
export const FIXTURES = join(REPO, 'test/fixtures/state');

/** Build what the tests deploy (each build.sh is idempotent and quick when up to date). */
export function buildModules(): void {
  for (const script of ['put', 'get', 'square', 'fanout']
    .map((e) => join(EXAMPLES, e, 'build.sh'))
    .concat(join(FIXTURES, 'build.sh'))) {
    execFileSync('bash', [script], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  }
}

export async function deploy(node: TernProcess, dir: string, name: string): Promise<void> {
  const res = await node.api('PUT', `/v1/functions/${name}`, {
    body: await packFolder(dir),
    headers: { 'content-type': 'application/gzip' },
  });
  assert.ok(res.status === 200 || res.status === 201, `deploy ${name}: ${res.status} ${await res.text()}`);
}

export async function freePort(): Promise<number> {
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

export interface RedisProcess {
  url: string;
  stop(): Promise<void>;
}

/** redis-server on 127.0.0.1, no persistence, in a temp folder; resolves once it accepts connections. */
export async function startRedis(): Promise<RedisProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'tern-redis-'));
  const port = await freePort();
  const proc = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--dir',
      dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'yes',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 20_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (/Ready to accept connections/.test(out)) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        proc.stdout!.resume();
        resolve();
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited:\n${out}`));
    });
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  body: string;
  report: {
    children?: { id: string; function: string; status: number; ms: number }[];
    instance: string;
    [k: string]: unknown;
  };
}

export async function invoke(
  node: TernProcess,
  path: string,
  init: { method?: string; body?: string } = {},
): Promise<Reply> {
  const res = await fetch(`${node.url}/fn/${path}`, {
    method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
    ...(init.body !== undefined ? { body: init.body } : {}),
  });
  const report = JSON.parse(res.headers.get('x-tern-report') ?? '{}') as Reply['report'];
  return { status: res.status, body: await res.text(), report };
}
