/**
 * A real `tern serve` process on free loopback ports with its own data folder, for the bench.
 * Like test/helpers/node.ts, with CoAP and gRPC on ports chosen here (so their addresses are known
 * whatever the log level) and a bounded output buffer, since a run pushes a lot of traffic through it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from './cleanup.js';
import { freeLoopbackPort, freeLoopbackUdpPort } from './free-port.js';
import { log } from './log.js';
import { OutputTail } from './output-tail.js';
import { CLI } from './paths.js';

export interface TernNode {
  url: string;
  coapUrl: string;
  grpcUrl: string;
  pid: number;
  proc: ChildProcess;
  /** Management request with the token. */
  api(method: string, path: string, body?: Buffer, contentType?: string): Promise<Response>;
  output(): string;
  stop(): Promise<void>;
}

export interface TernNodeOptions {
  args?: string[];
  /** CPUs to pin the node to (a taskset list such as "0-3"). */
  pin?: string;
  startTimeoutMs?: number;
}

const TOKEN = 'bench-token-0123456789abcdef';
const STOP_GRACE_MS = 15_000;
/**
 * The node's log level in the bench. At `info` the node logs every instance start and stop, which
 * for single-use functions (wasm's default) is two JSON lines per call: the bench measures the
 * platform, not its logging, so nodes run at `warn` (as the test suite does).
 */
export const BENCH_LOG_LEVEL = 'warn';

export async function startTernNode(options: TernNodeOptions = {}): Promise<TernNode> {
  const data = await mkdtemp(join(tmpdir(), 'tern-bench-node-'));
  const coapPort = await freeLoopbackUdpPort();
  const grpcPort = await freeLoopbackPort();
  const args = [
    CLI,
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--coap-port',
    String(coapPort),
    '--grpc-port',
    String(grpcPort),
    '--data',
    data,
    '--log-level',
    BENCH_LOG_LEVEL,
    ...(options.args ?? []),
  ];
  const [command, argv] =
    options.pin === undefined ? [process.execPath, args] : ['taskset', ['-c', options.pin, process.execPath, ...args]];
  const proc = spawn(command, argv, {
    env: { ...process.env, TERN_TOKEN: TOKEN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = new OutputTail();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = onCleanup(`tern node ${proc.pid ?? '?'}`, async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
    await rm(data, { recursive: true, force: true });
  });
  proc.stdout!.on('data', (chunk: Buffer) => tail.push(chunk));

  const timeoutMs = options.startTimeoutMs ?? 60_000;
  const serving = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tern did not start within ${timeoutMs} ms:\n${tail}`)), timeoutMs);
    let stderr = '';
    proc.stderr!.on('data', (chunk: Buffer) => {
      tail.push(chunk);
      if (stderr.length < 1 << 16) stderr += chunk.toString();
      const m = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`tern exited (${proc.exitCode ?? proc.signalCode}) before serving:\n${tail}`));
    });
  });

  let url: string;
  try {
    url = await serving;
  } catch (e) {
    await stop();
    throw e;
  }
  log(`tern node pid ${proc.pid} serving on ${url}`);
  return {
    url,
    coapUrl: `coap://127.0.0.1:${coapPort}`,
    grpcUrl: `grpc://127.0.0.1:${grpcPort}`,
    pid: proc.pid!,
    proc,
    api: (method, path, body, contentType) =>
      fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, ...(contentType ? { 'content-type': contentType } : {}) },
        ...(body ? { body } : {}),
      }),
    output: () => tail.toString(),
    stop,
  };
}
