/**
 * HTTP load with Debian's `wrk` (multi-threaded, C, epoll): the generator for the core-scaling
 * scenario, where autocannon (one Node thread) would cap the figure long before the server does.
 * wrk runs pinned to its own cores with `taskset`, so it never competes with the server measured.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LoadResult } from './http-load.js';

const run = promisify(execFile);

export interface WrkLoad {
  url: string;
  method: 'GET' | 'POST';
  body?: string;
  connections: number;
  threads: number;
  durationS: number;
  /** CPUs for wrk (a taskset list such as "8-15"). */
  cpus: string;
}

/** The same figures as an autocannon load; errors are wrk's socket errors and non-2xx/3xx answers. */
export type WrkResult = LoadResult;

/** Why wrk cannot run here, or null when it can. */
export async function wrkMissing(): Promise<string | null> {
  try {
    await run('wrk', ['--version']).catch((e: { stdout?: string }) => {
      // wrk --version prints its banner and exits 1.
      if (typeof e.stdout !== 'string' || !e.stdout.includes('wrk')) throw e;
    });
    await run('taskset', ['-V']);
    return null;
  } catch {
    return 'wrk or taskset is not installed (setup installs Debian packages wrk and util-linux)';
  }
}

/** wrk prints times like "812.00us", "1.20ms", "2.01s". */
export function parseWrkTime(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) throw new Error(`wrk: unreadable time "${text}"`);
  const value = Number(m[1]);
  const unit = m[2];
  const ms = unit === 'us' ? value / 1000 : unit === 'ms' ? value : unit === 's' ? value * 1000 : value * 60_000;
  return Math.round(ms * 1000) / 1000;
}

/** Reads the figures out of `wrk --latency` output. */
export function parseWrkOutput(out: string): WrkResult {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const total = /(\d+) requests in ([\d.]+\w+),/.exec(out);
  const p50 = /^\s+50%\s+(\S+)/m.exec(out);
  const p99 = /^\s+99%\s+(\S+)/m.exec(out);
  if (!rps || !total || !p50 || !p99) throw new Error(`wrk: unexpected output:\n${out}`);
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const socketErrors = socket ? socket.slice(1).reduce((s, n) => s + Number(n), 0) : 0;
  const errors = socketErrors + (non2xx ? Number(non2xx[1]) : 0);
  const requests = Number(total[1]);
  const durationS = parseWrkTime(total[2]!) / 1000;
  // wrk's Requests/sec counts every answer; keep only the good ones, as the other scenarios do.
  const good = Math.max(0, requests - errors);
  return {
    rps: Math.round((Number(rps[1]) * good) / Math.max(1, requests)),
    medianMs: parseWrkTime(p50[1]!),
    p99Ms: parseWrkTime(p99[1]!),
    requests,
    errors,
    durationS,
  };
}

export async function runWrk(load: WrkLoad): Promise<WrkResult> {
  const dir = await mkdtemp(join(tmpdir(), 'tern-bench-wrk-'));
  try {
    const args = [
      '-c',
      load.cpus,
      'wrk',
      '--latency',
      '-t',
      String(load.threads),
      '-c',
      String(Math.max(load.connections, load.threads)),
      '-d',
      `${Math.max(1, Math.round(load.durationS))}s`,
      '--timeout',
      '10s',
    ];
    if (load.method === 'POST') {
      const script = join(dir, 'post.lua');
      await writeFile(script, `wrk.method = "POST"\nwrk.body = ${JSON.stringify(load.body ?? '')}\n`);
      args.push('-s', script);
    }
    args.push(load.url);
    const { stdout } = await run('taskset', args, { timeout: (load.durationS + 30) * 1000, maxBuffer: 1 << 20 });
    return parseWrkOutput(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
