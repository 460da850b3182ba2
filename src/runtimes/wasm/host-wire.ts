/**
 * The `tern` import module's wire between a worker (the guest is blocked in a host function) and
 * the main thread (which owns state and chaining). Dependency-free: the worker imports it.
 *
 * The worker writes a request into its host buffer (a SharedArrayBuffer), sets CTRL.HOST_SEQ, then
 * sets CTRL.RESP_SEQ to HOST_PENDING and notifies: the main thread already waits on RESP_SEQ for
 * the call's answer, so it wakes for a host request without any new wait. The main thread sets
 * RESP_SEQ to HOST_SERVING, serves the request (maybe asynchronously: a lock, Redis, a chained
 * call), writes the reply into the same buffer and sets CTRL.HOST_DONE = HOST_SEQ; the worker waits
 * on HOST_DONE. A bigger buffer or a state segment travel over the worker's MessagePort, announced
 * by CTRL.HOST_MESSAGES.
 *
 * Request: u32 op, u32 a, u32 b, u32 name length, u32 data length, name (utf8), data.
 * Reply:   i32 result, u32 extra, u32 data length, data.
 */

export const HOST_PENDING = -2;
export const HOST_SERVING = -3;

export const HOST_OP = {
  /** name = key, a = offset, b = max bytes: result = value length; data = bytes from offset; the segment is posted. */
  GET: 1,
  SET: 2,
  /** a = offset: result = new length. */
  WRITE: 3,
  APPEND: 4,
  DELETE: 5,
  /** a = 1 for the global lock. */
  LOCK: 6,
  UNLOCK: 7,
  PUSH: 8,
  PULL: 9,
  /** name = function, data = body, b = max bytes back: result = status, extra = body length, data = body. */
  CALL: 10,
  /** name = function, data = body: result = handle. */
  CALL_ASYNC: 11,
  /** a = handle, b = max bytes back: as CALL. */
  AWAIT: 12,
} as const;
export type HostOp = (typeof HOST_OP)[keyof typeof HOST_OP];

/** Errors the imports return (negative); docs/state.md and examples/include/tern.h list the same. */
export const TERN_ERR = {
  NOT_FOUND: -1,
  INVALID: -2,
  TOO_BIG: -3,
  FULL: -4,
  LOCK: -5,
  UNAVAILABLE: -6,
  FAILED: -7,
} as const;

export const HOST_REQ_HEADER = 20;
export const HOST_REPLY_HEADER = 12;
export const INITIAL_HOST_BYTES = 64 * 1024;
/** A request or reply bigger than this is refused (values are bounded well below it). */
export const MAX_HOST_BYTES = 256 * 1024 * 1024;

export interface HostRequest {
  op: number;
  a: number;
  b: number;
  name: string;
  data: Uint8Array;
}

export interface HostReply {
  result: number;
  extra?: number;
  data?: Uint8Array;
}

/** Messages on the worker's port for the host channel (besides protocol.ts's). */
export type HostMessage =
  { type: 'host-buffer'; data: SharedArrayBuffer } | { type: 'segment'; key: string; data: SharedArrayBuffer };

export function hostBufferSizeFor(n: number): number {
  let size = INITIAL_HOST_BYTES;
  while (size < n) size *= 2;
  return size;
}

export function readRequest(buf: SharedArrayBuffer): HostRequest {
  const view = new DataView(buf);
  const nameLen = view.getUint32(12, true);
  const dataLen = view.getUint32(16, true);
  const bytes = new Uint8Array(buf);
  return {
    op: view.getUint32(0, true),
    a: view.getUint32(4, true),
    b: view.getUint32(8, true),
    name: Buffer.from(bytes.subarray(HOST_REQ_HEADER, HOST_REQ_HEADER + nameLen)).toString('utf8'),
    // A copy: the reply reuses the buffer, and data may outlive it (a value, a chained call's body).
    data: bytes.slice(HOST_REQ_HEADER + nameLen, HOST_REQ_HEADER + nameLen + dataLen),
  };
}

export function replySize(reply: HostReply): number {
  return HOST_REPLY_HEADER + (reply.data?.length ?? 0);
}

export function writeReply(buf: SharedArrayBuffer, reply: HostReply): void {
  const view = new DataView(buf);
  view.setInt32(0, reply.result, true);
  view.setUint32(4, reply.extra ?? 0, true);
  view.setUint32(8, reply.data?.length ?? 0, true);
  if (reply.data && reply.data.length > 0) new Uint8Array(buf).set(reply.data, HOST_REPLY_HEADER);
}
