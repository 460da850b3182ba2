/**
 * A real cluster for tests: one etcd and tern nodes started with startTern, plus the waits and
 * calls the tests share. Waits follow the nodes' JSON logs where a log line marks the event, and
 * poll the HTTP API (bounded, 100 ms apart) only where nothing is logged.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { startTern, REPO, type TernProcess } from '../helpers/node.js';
import { packFolder } from '../helpers/archive.js';
import { startEtcd, type EtcdServer } from './etcd.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { signRequest, type OutgoingRequest } from '../../src/cluster/request-auth.js';

export const SECRET = 'cluster-secret-0123456789abcdef';
export const FIXTURES = join(REPO, 'test/cluster/fixtures');
/** Edge nodes: no queue, short leases (see fixtures/edge.toml). */
export const EDGE_CONFIG = join(FIXTURES, 'edge.toml');

/** The cluster's keys, as every node derives them from SECRET: the tests sign requests as a node would. */
export const KEYS = new ClusterKeys(SECRET);

/** A node-to-node request signed as node `from` would sign it, sent to `url` (a node's base URL). */
export function signedFetch(
  url: string,
  r: Omit<OutgoingRequest, 'from'> & { from?: string; headers?: Record<string, string> },
): Promise<Response> {
  const headers = { ...signRequest(KEYS, { from: 'test', ...r }), ...r.headers };
  return fetch(`${url}${r.target}`, {
    method: r.method,
    headers,
    ...(r.body ? { body: r.body } : {}),
    signal: AbortSignal.timeout(60_000),
  });
}

export interface NodeSpec {
  name: string;
  role: 'edge' | 'cloud';
  area: string;
  /** Extra serve flags. */
  args?: string[];
  data?: string;
}

export interface Report {
  node: string;
  offloaded: boolean;
  hops: { node: string; ms: number }[];
  instance: string;
  error?: string;
}

export interface CallOutcome {
  status: number;
  body: string;
  report: Report | undefined;
}

export function startNode(etcd: EtcdServer, spec: NodeSpec, env: Record<string, string> = {}): Promise<TernProcess> {
  return startTern({
    args: [
      '--node',
      spec.name,
      '--etcd',
      etcd.url,
      '--role',
      spec.role,
      '--area',
      spec.area,
      '--grpc-port',
      '-1',
      ...(spec.args ?? []),
    ],
    env: { TERN_CLUSTER_SECRET: SECRET, ...env },
    ...(spec.data ? { data: spec.data } : {}),
    timeoutMs: 90_000,
  });
}

export { startEtcd, type EtcdServer };

/** Each JSON log line of a node, parsed (other lines skipped). */
export function logEntries(node: TernProcess): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of node.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // a line cut by the read; the next output event completes it
    }
  }
  return out;
}

/** Resolve when a log line of `node` matches; checked on every output chunk. */
export function waitForLog(
  node: TernProcess,
  match: (entry: Record<string, unknown>) => boolean,
  what: string,
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const hit = logEntries(node).find(match);
      if (!hit) return false;
      cleanup();
      resolve(hit);
      return true;
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${what}; output:\n${node.output().slice(-4000)}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      node.proc.stdout!.off('data', check);
      node.proc.stderr!.off('data', check);
    };
    node.proc.stdout!.on('data', check);
    node.proc.stderr!.on('data', check);
    check();
  });
}

/** Poll `probe` every 100 ms until it returns a value (not undefined), within `timeoutMs`. */
export async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function invoke(node: TernProcess, fn: string, query = '', init: RequestInit = {}): Promise<CallOutcome> {
  const res = await fetch(`${node.url}/fn/${fn}${query ? `?${query}` : ''}`, {
    ...init,
    signal: AbortSignal.timeout(120_000),
  });
  const header = res.headers.get('x-tern-report');
  return { status: res.status, body: await res.text(), report: header ? (JSON.parse(header) as Report) : undefined };
}

export async function deployFixture(node: TernProcess, name: string): Promise<string> {
  const archive = await packFolder(join(FIXTURES, name));
  const res = await node.api('PUT', `/v1/functions/${name}`, {
    body: archive,
    headers: { 'content-type': 'application/gzip' },
  });
  const text = await res.text();
  if (res.status !== 201 && res.status !== 200) throw new Error(`deploy ${name}: ${res.status} ${text}`);
  return (JSON.parse(text) as { version: string }).version;
}

/** Wait until `node`'s scheduler runs `fn` at `version` (logged by the node when its pool has it). */
export function waitDeployed(node: TernProcess, fn: string, version: string, timeoutMs = 60_000): Promise<unknown> {
  return waitForLog(
    node,
    (e) => (e.event === 'deploy' || e.event === 'update') && e.function === fn && e.version === version,
    `${fn} ${version} deployed`,
    timeoutMs,
  );
}

export interface Member {
  name: string;
  role: string;
  area: string;
  url: string;
  self?: boolean;
  load: { freeMemoryMiB: number; queued: number; warm: number };
}

export async function members(node: TernProcess): Promise<Member[]> {
  const res = await node.api('GET', '/v1/nodes');
  return ((await res.json()) as { nodes: Member[] }).nodes;
}

/** Wait until `node` sees exactly `names` as members. */
export function waitMembers(node: TernProcess, names: string[], timeoutMs = 30_000): Promise<Member[]> {
  const want = [...names].sort().join(',');
  return until(
    async () => {
      const list = await members(node);
      return list
        .map((m) => m.name)
        .sort()
        .join(',') === want
        ? list
        : undefined;
    },
    `members ${want}`,
    timeoutMs,
  );
}

/** A SIGKILLed node cannot remove its scratch folder: find it in its log and remove it. */
export async function removeScratch(node: TernProcess): Promise<void> {
  for (const e of logEntries(node)) {
    if (e.event === 'serving' && typeof e.scratch === 'string' && e.scratch.startsWith('/tmp/tern-'))
      await rm(e.scratch, { recursive: true, force: true });
  }
}

/** Wait until each of `fns` has a busy instance on `node` (a call of it is running there). */
export function busyOn(node: TernProcess, fns: string[], timeoutMs = 30_000): Promise<true> {
  return until(
    async () => {
      const res = await node.api('GET', '/v1/functions');
      const list = ((await res.json()) as { functions: { name: string; status: { instances: { busy: number } } }[] })
        .functions;
      return fns.every((fn) => (list.find((f) => f.name === fn)?.status.instances.busy ?? 0) > 0) || undefined;
    },
    `busy instances of ${fns.join(', ')}`,
    timeoutMs,
  );
}
