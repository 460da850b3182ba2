/**
 * The same function driven over HTTP, CoAP and gRPC for a bounded time: throughput and latency
 * per protocol. Loopback only; each protocol runs alone (one after the other) so they do not
 * compete for the node's CPU.
 *
 * HTTP uses autocannon (its latency histogram has 1 ms resolution); CoAP uses node-coap's client
 * Agent (Confirmable POSTs) and gRPC a @grpc/grpc-js client built from proto/tinyfaas.proto, each
 * as a closed loop of `concurrency` callers timed with performance.now().
 */
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { Agent, request as coapRequest, type IncomingMessage } from 'coap';
import { credentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { tinyFaasClient, type TinyFaasData, type TinyFaasResponse } from '../src/triggers/grpc/proto.js';

export interface ProtocolStats {
  /** Completed requests per second. */
  rps: number;
  medianMs: number;
  p99Ms: number;
  /** Requests that completed with success. */
  requests: number;
  /** Failed, refused (non-2xx) or timed-out requests. */
  errors: number;
}

export interface ProtocolBench {
  coap: ProtocolStats;
  grpc: ProtocolStats;
  http: ProtocolStats;
}

export interface BenchOptions {
  /** Callers in flight per protocol (HTTP: connections). Default 16, at most 256. */
  concurrency?: number;
  /** Stop a protocol's run after this many requests even if time remains. Default 1,000,000. */
  maxRequests?: number;
  /** Request body (CoAP and HTTP POST it; gRPC sends it as `data`). Default "bench". */
  body?: string;
}

const REQUEST_TIMEOUT_MS = 10_000;
const MIN_DURATION_MS = 100;
const MAX_DURATION_MS = 300_000;

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, Math.floor(value)));
}

/** Refuse anything but 127.0.0.0/8, ::1 and localhost. */
function loopbackHost(url: URL, protocol: string): string {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!loopback) throw new Error(`benchProtocols: ${protocol} target ${url.href} is not a loopback address`);
  return host;
}

function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Run `once` from `concurrency` loops until the deadline or the request cap. */
async function closedLoop(
  once: () => Promise<boolean>,
  durationMs: number,
  concurrency: number,
  maxRequests: number,
): Promise<ProtocolStats> {
  const latencies = new Float64Array(maxRequests);
  let started = 0;
  let ok = 0;
  let errors = 0;
  const begin = performance.now();
  const deadline = begin + durationMs;
  const worker = async () => {
    while (performance.now() < deadline && started < maxRequests) {
      started += 1;
      const t0 = performance.now();
      const success = await once().catch(() => false);
      if (success) latencies[ok++] = performance.now() - t0;
      else errors += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const elapsedS = (performance.now() - begin) / 1000;
  const sorted = latencies.subarray(0, ok).sort();
  return {
    rps: round(ok / elapsedS),
    medianMs: round(percentile(sorted, 0.5)),
    p99Ms: round(percentile(sorted, 0.99)),
    requests: ok,
    errors,
  };
}

async function benchCoap(
  url: string,
  fn: string,
  durationMs: number,
  o: Required<BenchOptions>,
): Promise<ProtocolStats> {
  const target = new URL(url);
  const hostname = loopbackHost(target, 'coap');
  const port = target.port === '' ? 5683 : Number(target.port);
  const agent = new Agent({ type: isIP(hostname) === 6 ? 'udp6' : 'udp4' });
  const body = Buffer.from(o.body);
  const once = () =>
    new Promise<boolean>((resolve) => {
      const req = coapRequest({ hostname, port, pathname: `/${fn}`, method: 'POST', confirmable: true, agent });
      const timer = setTimeout(() => {
        agent.abort(req);
        resolve(false);
      }, REQUEST_TIMEOUT_MS);
      req.on('response', (res: IncomingMessage) => {
        clearTimeout(timer);
        resolve(String(res.code).startsWith('2.'));
      });
      req.on('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
      req.end(body);
    });
  try {
    return await closedLoop(once, durationMs, o.concurrency, o.maxRequests);
  } finally {
    // node-coap's Agent closes its socket by itself once idle and then never calls close()'s
    // callback, but it always emits 'close'.
    await new Promise<void>((resolve) => {
      agent.once('close', () => resolve());
      agent.close();
    });
  }
}

type RequestMethod = (
  data: TinyFaasData,
  options: { deadline: number },
  callback: (error: ServiceError | null, response?: TinyFaasResponse) => void,
) => unknown;

async function benchGrpc(
  url: string,
  fn: string,
  durationMs: number,
  o: Required<BenchOptions>,
): Promise<ProtocolStats> {
  const target = new URL(url.includes('://') ? url : `grpc://${url}`);
  loopbackHost(target, 'grpc');
  const Ctor = tinyFaasClient();
  const client: Client = new Ctor(target.host, credentials.createInsecure());
  const call = (client as unknown as { Request: RequestMethod }).Request.bind(client);
  const once = () =>
    new Promise<boolean>((resolve) => {
      call({ functionIdentifier: fn, data: o.body }, { deadline: Date.now() + REQUEST_TIMEOUT_MS }, (error) =>
        resolve(error === null),
      );
    });
  try {
    return await closedLoop(once, durationMs, o.concurrency, o.maxRequests);
  } finally {
    client.close();
  }
}

interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  latency: { p50: number; p99: number };
  requests: { total: number };
}

type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

async function benchHttp(
  url: string,
  fn: string,
  durationMs: number,
  o: Required<BenchOptions>,
): Promise<ProtocolStats> {
  const target = new URL(url);
  loopbackHost(target, 'http');
  // autocannon ships no type declarations: load it untyped and describe the part we read.
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const result = await autocannon({
    url: new URL(`/fn/${encodeURIComponent(fn)}`, target).href,
    method: 'POST',
    body: o.body,
    connections: o.concurrency,
    duration: durationMs / 1000,
    maxOverallRequests: o.maxRequests,
    timeout: REQUEST_TIMEOUT_MS / 1000,
  });
  const failed = result.errors + result.timeouts + result.non2xx;
  const ok = Math.max(0, result.requests.total - result.non2xx);
  return {
    rps: round(ok / Math.max(result.duration, 0.001)),
    medianMs: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: ok,
    errors: failed,
  };
}

/**
 * Drive `fn` over each protocol for `durationMs` (each), at most `maxRequests` requests each.
 * urls: coap "coap://127.0.0.1:5683", grpc "grpc://127.0.0.1:9000" (or "127.0.0.1:9000"),
 * http "http://127.0.0.1:8080" (the node's base URL; /fn/NAME is appended).
 */
export async function benchProtocols(
  urls: { coap: string; grpc: string; http: string },
  fn: string,
  durationMs: number,
  options: BenchOptions = {},
): Promise<ProtocolBench> {
  const o: Required<BenchOptions> = {
    concurrency: clamp(options.concurrency ?? 16, 1, 256),
    maxRequests: clamp(options.maxRequests ?? 1_000_000, 1, 10_000_000),
    body: options.body ?? 'bench',
  };
  const duration = clamp(durationMs, MIN_DURATION_MS, MAX_DURATION_MS);
  const http = await benchHttp(urls.http, fn, duration, o);
  const coap = await benchCoap(urls.coap, fn, duration, o);
  const grpc = await benchGrpc(urls.grpc, fn, duration, o);
  return { coap, grpc, http };
}
