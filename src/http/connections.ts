/**
 * Bounds on the connections of the node's HTTP port, counted across every event loop that
 * accepts on it (a table in shared memory): at most `perClient` from one address, at most `total`
 * in all — `total` leaves a reserve of file descriptors below the process's limit for what the
 * node itself opens (deploys, logs, sandbox pipes). From `pressure` of `total` on, kept-alive
 * connections with no request in flight are closed, so idle ones cannot hold the door shut for
 * callers with work to do. A connection over a bound is closed before anything is read from it.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export interface ConnectionLimits {
  total: number;
  perClient: number;
}

const BUCKETS = 4096;
const TOTAL = BUCKETS;
/** From this share of `total` in use, idle connections are closed (oldest first)... */
const PRESSURE = 0.9;
/** ...down to this share. */
const LOW_WATER = 0.7;

/** The process's soft and hard limits on open files (from /proc); Infinity where unlimited or unknown. */
export function openFileLimits(): { soft: number; hard: number } {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const [, soft, hard] = line?.split(/\s{2,}/) ?? [];
    const num = (v: string | undefined) => (v === undefined || v === 'unlimited' ? Infinity : Number(v));
    return { soft: num(soft), hard: num(hard) };
  } catch {
    return { soft: Infinity, hard: Infinity };
  }
}

/**
 * Raise the soft limit on open files to the hard one (Node has no setrlimit; util-linux's prlimit
 * does it for this process). Returns the soft limit in force afterwards.
 */
export function raiseOpenFileLimit(): number {
  const { soft, hard } = openFileLimits();
  if (soft < hard && Number.isFinite(hard)) {
    spawnSync('prlimit', ['--pid', String(process.pid), `--nofile=${hard}:${hard}`], {
      stdio: 'ignore',
      timeout: 5_000,
    });
  }
  return openFileLimits().soft;
}

/** The bounds for a process whose soft file limit is `fdLimit`, keeping `reserve` descriptors for the node itself. */
export function limitsFor(
  fdLimit: number,
  configured: { maxConnections?: number; perClient: number; reserve: number },
): ConnectionLimits {
  const room = Number.isFinite(fdLimit) ? Math.max(16, fdLimit - configured.reserve) : 1 << 20;
  return {
    total: Math.min(configured.maxConnections ?? room, room),
    perClient: configured.perClient,
  };
}

/** The counters every loop shares: per-client buckets (hashed addresses) and the total. */
export function connectionTable(): SharedArrayBuffer {
  return new SharedArrayBuffer((BUCKETS + 1) * Int32Array.BYTES_PER_ELEMENT);
}

function bucketOf(address: string): number {
  let h = 2166136261;
  for (let i = 0; i < address.length; i++) h = Math.imul(h ^ address.charCodeAt(i), 16777619);
  return (h >>> 0) % BUCKETS;
}

/** Count `server`'s connections in `table` and enforce `limits` on them. */
export function guardConnections(server: Server, table: SharedArrayBuffer, limits: ConnectionLimits): void {
  const cells = new Int32Array(table);
  /** This server's connections, oldest first, with the requests each has in flight. */
  const open = new Map<Socket, { busy: number }>();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const state = open.get(req.socket);
    if (state === undefined) return;
    state.busy++;
    res.once('close', () => state.busy--);
  });
  server.on('connection', (socket: Socket) => {
    const bucket = bucketOf(socket.remoteAddress ?? '');
    let total = Atomics.add(cells, TOTAL, 1) + 1;
    const mine = Atomics.add(cells, bucket, 1) + 1;
    socket.once('close', () => {
      open.delete(socket);
      Atomics.sub(cells, TOTAL, 1);
      Atomics.sub(cells, bucket, 1);
    });
    if (mine > limits.perClient) {
      socket.destroy();
      return;
    }
    if (total >= limits.total * PRESSURE) total -= evictIdle(open, total - Math.floor(limits.total * LOW_WATER));
    if (total > limits.total) {
      socket.destroy();
      return;
    }
    open.set(socket, { busy: 0 });
  });
}

/** Close up to `count` connections with no request in flight, oldest first; returns how many. */
function evictIdle(open: Map<Socket, { busy: number }>, count: number): number {
  let closed = 0;
  for (const [socket, state] of open) {
    if (closed >= count) break;
    if (state.busy !== 0) continue;
    open.delete(socket);
    socket.destroy();
    closed++;
  }
  return closed;
}
