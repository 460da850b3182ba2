/**
 * Worker side of Tern's own import module, `tern` (docs/state.md, examples/include/tern.h):
 * state and chaining for wasm guests. Every import is synchronous for the guest. Reads of a value
 * come straight from its shared-memory segment (no message, no main thread) once this worker has
 * seen the key; everything else is a round trip to the main thread through the host buffer
 * (host-wire.ts), during which this worker waits in Atomics.wait.
 */
import { readSegment, READ_STALE, SEG, wrapSegment, type Segment } from '../../core/segment.js';
import { CTRL } from './protocol.js';
import { SpinGovernor } from './spin.js';
import {
  HOST_OP,
  HOST_PENDING,
  HOST_REPLY_HEADER,
  HOST_REQ_HEADER,
  hostBufferSizeFor,
  MAX_HOST_BYTES,
  TERN_ERR,
  type HostMessage,
} from './host-wire.js';
import type { WasmMemory } from './wasm-api.js';
import type { MessagePort } from 'node:worker_threads';

export const TERN_MODULE = 'tern';

/** Import name -> number of i32 parameters (every import returns one i32). */
export const TERN_IMPORTS: Readonly<Record<string, number>> = {
  state_get: 4,
  state_read: 5,
  state_size: 2,
  state_set: 4,
  state_write: 5,
  state_append: 4,
  state_delete: 2,
  state_lock: 3,
  state_unlock: 3,
  state_push: 2,
  state_pull: 2,
  call: 7,
  call_async: 4,
  await: 4,
  error: 2,
};

/** Segments a worker keeps for in-place reads: by count and by the bytes they pin. */
const MAX_CACHED_SEGMENTS = 1024;
const MAX_CACHED_BYTES = 64 * 1024 * 1024;
const EMPTY = new Uint8Array(0);

interface Reply {
  result: number;
  extra: number;
  /** A view into the host buffer: valid until the next request. */
  data: Uint8Array;
}

type Fn = (...args: number[]) => number;

export class TernHost {
  private memory: WasmMemory | undefined;
  private hostBuffer: SharedArrayBuffer;
  private seq = 0;
  private lastError = '';
  private readonly segments = new Map<string, Segment>();
  private cachedBytes = 0;
  private readonly spinner: SpinGovernor;
  readonly imports: Record<string, Fn>;

  constructor(
    private readonly ctrl: Int32Array,
    hostBuffer: SharedArrayBuffer,
    private readonly port: MessagePort,
    /** Drains the port (messages of every kind), passing host messages here. */
    private readonly drain: () => void,
    spinUs: number,
  ) {
    this.hostBuffer = hostBuffer;
    this.spinner = new SpinGovernor(spinUs);
    this.imports = this.build();
  }

  bindMemory(memory: WasmMemory | undefined): void {
    this.memory = memory;
  }

  begin(): void {
    this.lastError = '';
  }

  end(): void {
    this.memory = undefined;
  }

  /** A host message from the port (drained by the worker). */
  receive(m: HostMessage): void {
    if (m.type === 'host-buffer') this.hostBuffer = m.data;
    else this.cache(m.key, wrapSegment(m.data));
  }

  private cache(key: string, s: Segment): void {
    const old = this.segments.get(key);
    if (old) {
      this.segments.delete(key);
      this.cachedBytes -= old.capacity;
    }
    if (s.capacity > MAX_CACHED_BYTES) return;
    this.segments.set(key, s);
    this.cachedBytes += s.capacity;
    for (const [k, v] of this.segments) {
      if (this.segments.size <= MAX_CACHED_SEGMENTS && this.cachedBytes <= MAX_CACHED_BYTES) break;
      this.segments.delete(k);
      this.cachedBytes -= v.capacity;
    }
  }

  private uncache(key: string): void {
    const s = this.segments.get(key);
    if (!s) return;
    this.segments.delete(key);
    this.cachedBytes -= s.capacity;
  }

  private guest(): Uint8Array {
    return this.memory ? new Uint8Array(this.memory.buffer) : EMPTY;
  }

  /** A checked view of guest memory, or undefined (the error is recorded). */
  private slice(ptr: number, len: number): Uint8Array | undefined {
    const mem = this.guest();
    const p = ptr >>> 0;
    const n = len >>> 0;
    if (p + n > mem.length) {
      this.lastError = `bad pointer: ${n} bytes at ${p} are outside the module's memory`;
      return undefined;
    }
    return mem.subarray(p, p + n);
  }

  private text(ptr: number, len: number): string | undefined {
    const bytes = this.slice(ptr, len);
    return bytes === undefined
      ? undefined
      : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  }

  private fail(code: number, message: string): number {
    this.lastError = message;
    return code;
  }

  /** One request to the main thread; blocks this worker until the reply. */
  private request(op: number, a: number, b: number, name: Uint8Array, data: Uint8Array): Reply {
    const size = HOST_REQ_HEADER + name.length + data.length;
    if (size > MAX_HOST_BYTES)
      return { result: this.fail(TERN_ERR.TOO_BIG, `request of ${size} bytes is too big`), extra: 0, data: EMPTY };
    if (size > this.hostBuffer.byteLength) {
      this.hostBuffer = new SharedArrayBuffer(hostBufferSizeFor(size));
      this.port.postMessage({ type: 'host-buffer', data: this.hostBuffer } satisfies HostMessage);
      Atomics.store(this.ctrl, CTRL.HOST_FROM_WORKER, 1);
    }
    const view = new DataView(this.hostBuffer);
    const bytes = new Uint8Array(this.hostBuffer);
    view.setUint32(0, op, true);
    view.setUint32(4, a >>> 0, true);
    view.setUint32(8, b >>> 0, true);
    view.setUint32(12, name.length, true);
    view.setUint32(16, data.length, true);
    bytes.set(name, HOST_REQ_HEADER);
    bytes.set(data, HOST_REQ_HEADER + name.length);

    const seq = ++this.seq;
    Atomics.store(this.ctrl, CTRL.HOST_SEQ, seq);
    Atomics.store(this.ctrl, CTRL.RESP_SEQ, HOST_PENDING);
    Atomics.notify(this.ctrl, CTRL.RESP_SEQ);
    if (this.spinner.allowed()) this.spinner.spin(() => Atomics.load(this.ctrl, CTRL.HOST_DONE) === seq);
    for (
      let done = Atomics.load(this.ctrl, CTRL.HOST_DONE);
      done !== seq;
      done = Atomics.load(this.ctrl, CTRL.HOST_DONE)
    ) {
      Atomics.wait(this.ctrl, CTRL.HOST_DONE, done);
    }
    if (Atomics.exchange(this.ctrl, CTRL.HOST_MESSAGES, 0) === 1) this.drain();
    const reply = new DataView(this.hostBuffer);
    const result = reply.getInt32(0, true);
    const dataLen = reply.getUint32(8, true);
    const replyData = new Uint8Array(this.hostBuffer, HOST_REPLY_HEADER, dataLen);
    if (result < 0) this.lastError = Buffer.from(replyData).toString('utf8');
    return { result, extra: reply.getUint32(4, true), data: replyData };
  }

  private keyed(
    op: number,
    keyPtr: number,
    keyLen: number,
    a: number,
    b: number,
    dataPtr: number,
    dataLen: number,
  ): number {
    const key = this.slice(keyPtr, keyLen);
    const data = this.slice(dataPtr, dataLen);
    if (!key || !data) return TERN_ERR.INVALID;
    return this.request(op, a, b, key, data).result;
  }

  /** Copy reply bytes to the guest and store the full length at `lenPtr` (when not 0). */
  private deliver(reply: Reply, outPtr: number, outCap: number, lenPtr: number): number {
    if (reply.result < 0) return reply.result;
    const out = this.slice(outPtr, Math.min(outCap >>> 0, reply.data.length));
    if (!out) return TERN_ERR.INVALID;
    out.set(reply.data.subarray(0, out.length));
    if (lenPtr !== 0) {
      const at = this.slice(lenPtr, 4);
      if (!at) return TERN_ERR.INVALID;
      new DataView(at.buffer, at.byteOffset, 4).setUint32(0, reply.extra, true);
    }
    return reply.result;
  }

  /**
   * Copy the value of `key` from `offset` into the guest (up to `cap` bytes). Returns the value's
   * whole length. In place from the cached segment when there is one; else one round trip, which
   * also brings the segment for next time.
   */
  private readValue(keyPtr: number, keyLen: number, offset: number, outPtr: number, cap: number): number {
    const key = this.text(keyPtr, keyLen);
    const out = this.slice(outPtr, cap);
    if (key === undefined || out === undefined) return TERN_ERR.INVALID;
    const s = this.segments.get(key);
    if (s) {
      const length = readSegment(s, offset >>> 0, out);
      if (length >= 0) {
        if (offset >>> 0 > length)
          return this.fail(TERN_ERR.INVALID, `offset ${offset >>> 0} is past the end of "${key}" (${length} bytes)`);
        return length;
      }
      if (length === READ_STALE) this.uncache(key);
    }
    const reply = this.request(HOST_OP.GET, offset, cap, Buffer.from(key), EMPTY);
    if (reply.result < 0) return reply.result;
    // The guest memory may have grown meanwhile? No: the guest is blocked in this import.
    out.set(reply.data.subarray(0, out.length));
    return reply.result;
  }

  private build(): Record<string, Fn> {
    const fns: Record<string, Fn> = {
      state_get: (k, kl, buf, cap) => this.readValue(k, kl, 0, buf, cap),
      state_read: (k, kl, offset, buf, cap) => {
        const length = this.readValue(k, kl, offset, buf, cap);
        return length < 0 ? length : Math.max(0, Math.min(cap >>> 0, length - (offset >>> 0)));
      },
      state_size: (k, kl) => {
        const key = this.text(k, kl);
        if (key === undefined) return TERN_ERR.INVALID;
        const s = this.segments.get(key);
        if (s && Atomics.load(s.i32, SEG.STALE) === 0) return Atomics.load(s.i32, SEG.LENGTH);
        return this.readValue(k, kl, 0, 0, 0);
      },
      state_set: (k, kl, v, vl) => this.keyed(HOST_OP.SET, k, kl, 0, 0, v, vl),
      state_write: (k, kl, offset, v, vl) => this.keyed(HOST_OP.WRITE, k, kl, offset, 0, v, vl),
      state_append: (k, kl, v, vl) => this.keyed(HOST_OP.APPEND, k, kl, 0, 0, v, vl),
      state_delete: (k, kl) => this.keyed(HOST_OP.DELETE, k, kl, 0, 0, 0, 0),
      state_lock: (k, kl, global) => this.keyed(HOST_OP.LOCK, k, kl, global === 0 ? 0 : 1, 0, 0, 0),
      state_unlock: (k, kl, global) => this.keyed(HOST_OP.UNLOCK, k, kl, global === 0 ? 0 : 1, 0, 0, 0),
      state_push: (k, kl) => this.keyed(HOST_OP.PUSH, k, kl, 0, 0, 0, 0),
      state_pull: (k, kl) => this.keyed(HOST_OP.PULL, k, kl, 0, 0, 0, 0),
      call: (f, fl, input, il, out, cap, lenPtr) => {
        const name = this.slice(f, fl);
        const body = this.slice(input, il);
        if (!name || !body) return TERN_ERR.INVALID;
        return this.deliver(this.request(HOST_OP.CALL, 0, cap, name, body), out, cap, lenPtr);
      },
      call_async: (f, fl, input, il) => this.keyed(HOST_OP.CALL_ASYNC, f, fl, 0, 0, input, il),
      await: (handle, out, cap, lenPtr) =>
        this.deliver(this.request(HOST_OP.AWAIT, handle, cap, EMPTY, EMPTY), out, cap, lenPtr),
      error: (buf, cap) => {
        const message = Buffer.from(this.lastError);
        const out = this.slice(buf, Math.min(cap >>> 0, message.length));
        if (!out) return TERN_ERR.INVALID;
        out.set(message.subarray(0, out.length));
        return message.length;
      },
    };
    return fns;
  }
}
