/**
 * The two core types as they cross between event loops. Structured clone keeps their shape but
 * turns a Buffer into a plain Uint8Array (and would copy a pooled Buffer's whole backing store),
 * and each thread's performance.now() counts from its own origin: these helpers copy bodies to
 * exact-size arrays and carry times as epoch milliseconds.
 */
import type { Invocation } from '../core/invocation.js';
import type { Response, Result } from '../core/result.js';

export type WireInvocation = Omit<Invocation, 'body' | 'receivedAt'> & { body: Uint8Array; receivedAtEpoch: number };
export type WireResponse = Omit<Response, 'body'> & { body: Uint8Array };
export type WireResult = Omit<Result, 'body'> & { body: Uint8Array };

/** performance.now() of this thread as epoch milliseconds, and back. */
export function toEpoch(now: number): number {
  return performance.timeOrigin + now;
}

export function fromEpoch(epoch: number): number {
  return epoch - performance.timeOrigin;
}

function exact(body: Buffer): Uint8Array {
  return body.byteLength === body.buffer.byteLength ? body : new Uint8Array(body);
}

function asBuffer(body: Uint8Array): Buffer {
  return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
}

export function invocationToWire(inv: Invocation): WireInvocation {
  const { body, receivedAt, ...rest } = inv;
  return { ...rest, body: exact(body), receivedAtEpoch: toEpoch(receivedAt) };
}

export function invocationFromWire(w: WireInvocation): Invocation {
  const { body, receivedAtEpoch, ...rest } = w;
  return { ...rest, body: asBuffer(body), receivedAt: fromEpoch(receivedAtEpoch) };
}

export function responseToWire(r: Response): WireResponse {
  return { status: r.status, headers: r.headers, body: exact(r.body) };
}

export function responseFromWire(w: WireResponse): Response {
  return { status: w.status, headers: w.headers, body: asBuffer(w.body) };
}

export function resultToWire(r: Result): WireResult {
  return { status: r.status, headers: r.headers, body: exact(r.body), report: r.report };
}

export function resultFromWire(w: WireResult): Result {
  return { status: w.status, headers: w.headers, body: asBuffer(w.body), report: w.report };
}
