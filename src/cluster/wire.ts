/**
 * The node-to-node wire format of a forwarded call and of its result. Both are one frame:
 * a 4-byte big-endian length, that many bytes of JSON (everything but the body), then the raw body.
 * Framing keeps the invocation and the result exact (any header a function sets, any bytes),
 * where mapping them onto the HTTP exchange itself would let the transport rewrite them.
 */
import { z } from 'zod';
import { TernError } from '../core/errors.js';
import type { Invocation } from '../core/invocation.js';
import type { Report } from '../core/report.js';
import type { Result } from '../core/result.js';

export const INVOCATION_TYPE = 'application/x-tern-invocation';
export const RESULT_TYPE = 'application/x-tern-result';
export const HOPS_HEADER = 'x-tern-hops';
/** Nodes the call has already been on, comma-separated: never forwarded back to any of them. */
export const PATH_HEADER = 'x-tern-path';

/** Bounds the JSON part so a bad frame cannot make a node parse megabytes of headers. */
const MAX_META_BYTES = 1024 * 1024;

const invocationMeta = z.object({
  id: z.string().min(1).max(200),
  method: z.string().min(1).max(20),
  path: z.string().max(8192),
  query: z.string().max(65536),
  headers: z.record(z.string(), z.string()),
  depth: z.number().int().min(0),
  parent: z.string().max(200).optional(),
});

export type InvocationMeta = z.output<typeof invocationMeta>;

const hop = z.object({ node: z.string(), ms: z.number() });
const reportSchema = z.object({
  node: z.string(),
  function: z.string(),
  instance: z.string(),
  cold: z.boolean(),
  queueMs: z.number(),
  initMs: z.number(),
  runMs: z.number(),
  totalMs: z.number(),
  offloaded: z.boolean(),
  hops: z.array(hop),
  children: z.array(z.object({ id: z.string(), function: z.string(), status: z.number(), ms: z.number() })).optional(),
  error: z.string().optional(),
});

const resultMeta = z.object({
  status: z.number().int().min(100).max(599),
  headers: z.record(z.string(), z.string()),
  report: reportSchema,
});

function frame(meta: unknown, body: Buffer): Buffer {
  const json = Buffer.from(JSON.stringify(meta));
  const head = Buffer.alloc(4);
  head.writeUInt32BE(json.length, 0);
  return Buffer.concat([head, json, body]);
}

function unframe(data: Buffer, what: string): { meta: unknown; body: Buffer } {
  if (data.length < 4) throw new TernError('bad_request', `${what}: frame too short`);
  const length = data.readUInt32BE(0);
  if (length > MAX_META_BYTES || 4 + length > data.length)
    throw new TernError('bad_request', `${what}: bad frame length`);
  let meta: unknown;
  try {
    meta = JSON.parse(data.subarray(4, 4 + length).toString('utf8'));
  } catch {
    throw new TernError('bad_request', `${what}: the frame's JSON does not parse`);
  }
  return { meta, body: data.subarray(4 + length) };
}

export function encodeInvocation(inv: Invocation): Buffer {
  const meta: InvocationMeta = {
    id: inv.id,
    method: inv.method,
    path: inv.path,
    query: inv.query,
    headers: { ...inv.headers },
    depth: inv.depth,
    ...(inv.parent !== undefined ? { parent: inv.parent } : {}),
  };
  return frame(meta, inv.body);
}

export function decodeInvocation(data: Buffer): { meta: InvocationMeta; body: Buffer } {
  const { meta, body } = unframe(data, 'forwarded call');
  const parsed = invocationMeta.safeParse(meta);
  if (!parsed.success)
    throw new TernError(
      'bad_request',
      `forwarded call: ${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? 'invalid'}`,
    );
  return { meta: parsed.data, body };
}

export function encodeResult(result: Result): Buffer {
  return frame({ status: result.status, headers: result.headers, report: result.report }, result.body);
}

export function decodeResult(data: Buffer): Result {
  const { meta, body } = unframe(data, 'peer result');
  const parsed = resultMeta.safeParse(meta);
  if (!parsed.success) throw new TernError('internal', 'a peer answered with a malformed result');
  const report: Report = parsed.data.report;
  return { status: parsed.data.status, headers: parsed.data.headers, body, report };
}

/** Parse the hop count and path headers of a forwarded call. */
export function parseRoute(headers: Record<string, string | string[] | undefined>): { hops: number; path: string[] } {
  const rawHops = headers[HOPS_HEADER];
  const hops = typeof rawHops === 'string' && /^\d{1,3}$/.test(rawHops) ? Number(rawHops) : NaN;
  if (!Number.isInteger(hops) || hops < 1)
    throw new TernError('bad_request', `forwarded call: ${HOPS_HEADER} must be a positive integer`);
  const rawPath = headers[PATH_HEADER];
  const path =
    typeof rawPath === 'string'
      ? rawPath
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [];
  return { hops, path };
}
