/**
 * Starts a real `tern serve` process for a test on free loopback ports with its own data folder,
 * and stops it (SIGTERM, then waits for exit) when the test is done.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const CLI = join(REPO, 'dist/src/cli/main.js');

export interface TernProcess {
  url: string;
  token: string;
  data: string;
  proc: ChildProcess;
  /** Everything the node printed on stdout (JSON log lines) and stderr. */
  output(): string;
  /** Management request with the token. */
  api(
    method: string,
    path: string,
    init?: { body?: Buffer | string; headers?: Record<string, string>; token?: string | null },
  ): Promise<Response>;
  /** SIGTERM and wait for exit; resolves to the exit code. Keeps the data folder unless `cleanup`. */
  stop(opts?: { cleanup?: boolean; signal?: NodeJS.Signals }): Promise<number | null>;
}

export interface StartOptions {
  args?: string[];
  env?: Record<string, string>;
  /** Reuse a data folder (restart tests). */
  data?: string;
  token?: string;
  timeoutMs?: number;
  /** A command the node runs under (e.g. ['prlimit', '--nofile=1024:1024']). */
  prefix?: string[];
}

export async function startTern(opts: StartOptions = {}): Promise<TernProcess> {
  const data = opts.data ?? (await mkdtemp(join(tmpdir(), 'tern-test-')));
  const token = opts.token ?? 'test-token-0123456789abcdef';
  const args = [
    CLI,
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--coap-port',
    '0',
    '--grpc-port',
    '0',
    '--data',
    data,
    ...(opts.args ?? []),
  ];
  const [command, ...before] = [...(opts.prefix ?? []), process.execPath];
  const proc = spawn(command!, [...before, ...args], {
    env: { ...process.env, TERN_TOKEN: token, TERN_LOG_LEVEL: process.env.TERN_TEST_LOG_LEVEL ?? 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tern did not start in time:\n${out}`)), opts.timeoutMs ?? 60_000);
    const onData = () => {
      const m = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stderr!.off('data', onData);
        resolve(m[1]!);
      }
    };
    proc.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tern exited with ${code} before serving:\n${out}`));
    });
  });

  let stopped: Promise<number | null> | undefined;
  return {
    url,
    token,
    data,
    proc,
    output: () => out,
    api: (method, path, init = {}) => {
      const headers: Record<string, string> = { ...init.headers };
      const t = init.token === undefined ? token : init.token;
      if (t !== null) headers.authorization = `Bearer ${t}`;
      return fetch(`${url}${path}`, { method, headers, ...(init.body !== undefined ? { body: init.body } : {}) });
    },
    stop: async (o = {}) => {
      stopped ??= (async () => {
        if (proc.exitCode === null && proc.signalCode === null && !proc.killed) proc.kill(o.signal ?? 'SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
        const code = await exited;
        clearTimeout(timer);
        return code;
      })();
      const code = await stopped;
      if (o.cleanup) await rm(data, { recursive: true, force: true });
      return code;
    },
  };
}

export interface LiveStatus {
  instances: { starting: number; idle: number; busy: number; total: number };
  queued: number;
  invocations: number;
}

/** Polls a function's live status until `ok` holds (bounded). */
export async function waitForStatus(
  node: TernProcess,
  name: string,
  ok: (s: LiveStatus) => boolean,
  timeoutMs = 20_000,
): Promise<LiveStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = (await (await node.api('GET', `/v1/functions/${name}`)).json()) as { status: LiveStatus };
    if (ok(status)) return status;
    if (Date.now() > deadline) throw new Error(`status of ${name} never matched: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
