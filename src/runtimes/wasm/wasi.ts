/**
 * A small in-memory WASI preview-1 host for one worker: stdin is the request body, stdout and
 * stderr are buffers, environment and arguments come from the call, and the filesystem is either
 * absent or the function's own folder, read-only. No real file descriptors are involved for stdio,
 * which is what keeps a call in microseconds (node:wasi needs real fds).
 *
 * One Wasi object serves every call of its worker, one at a time: `begin` binds a call, `end` unbinds.
 * Every function the guest imports from wasi_snapshot_preview1 that is not implemented here returns ENOSYS.
 */
import { randomFillSync } from 'node:crypto';
import { CLOCK, ERRNO, EVENTTYPE, FILETYPE, STDIO_RIGHTS } from './wasi-constants.js';
import { PREOPEN_FD, PREOPEN_NAME, writeFilestat, type ReadOnlyTree } from './wasi-files.js';
import type { WasmMemory } from './wasm-api.js';

export const WASI_MODULE = 'wasi_snapshot_preview1';

/** Thrown by proc_exit to unwind the guest. */
export class ProcExit {
  constructor(readonly code: number) {}
}

/**
 * Thrown where the guest would sleep on a thread that must not block (an event loop running it
 * inline): the call stops, and runs again where sleeping is fine (a worker).
 */
export class WouldBlock {}

/** Thrown when stdout passes its limit: the call stops there. */
export class OutputLimitExceeded {
  constructor(readonly limit: number) {}
}

/** A growable byte buffer with a hard limit, reused across calls. */
export class OutputBuffer {
  private buf: Uint8Array;
  length = 0;
  /** Bytes refused past the limit. */
  dropped = 0;

  constructor(
    readonly limit: number,
    private readonly initial = 4096,
  ) {
    this.buf = new Uint8Array(initial);
  }

  /** Append; returns false when the limit cut the write short. */
  write(src: Uint8Array, offset: number, len: number): boolean {
    const room = this.limit - this.length;
    const take = Math.min(len, room);
    if (this.length + take > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.length + take) size *= 2;
      const next = new Uint8Array(Math.min(size, this.limit));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(src.subarray(offset, offset + take), this.length);
    this.length += take;
    this.dropped += len - take;
    return take === len;
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  reset(): void {
    this.length = 0;
    this.dropped = 0;
    // A call that wrote megabytes should not pin them for the worker's life.
    if (this.buf.length > 1 << 20) this.buf = new Uint8Array(this.initial);
  }
}

export interface CallContext {
  stdin: Uint8Array;
  /** "K=V\0K=V\0…" and its count. */
  env: Uint8Array;
  envCount: number;
  args: Uint8Array;
  argCount: number;
  files: ReadOnlyTree | null;
}

type HostFunction = (...args: never[]) => number;

const EMPTY = new Uint8Array(0);
const sleeper = new Int32Array(new SharedArrayBuffer(4));

function nulOffsets(blob: Uint8Array): number[] {
  const offsets: number[] = [];
  let start = 0;
  for (let i = 0; i < blob.length; i++) {
    if (blob[i] === 0) {
      offsets.push(start);
      start = i + 1;
    }
  }
  return offsets;
}

/** The calls that would change the filesystem. */
const READ_ONLY_WRITES = [
  'path_create_directory',
  'path_remove_directory',
  'path_unlink_file',
  'path_rename',
  'path_symlink',
  'path_link',
  'path_filestat_set_times',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_allocate',
];

/** A guest pointer out of bounds makes DataView throw RangeError: that is EFAULT, not a crash. */
function guardFaults(fns: Record<string, HostFunction>): Record<string, HostFunction> {
  const guarded: Record<string, HostFunction> = {};
  for (const [name, fn] of Object.entries(fns)) {
    guarded[name] = (...args: never[]) => {
      try {
        return fn(...args);
      } catch (e) {
        if (e instanceof RangeError && !/call stack/i.test(e.message)) return ERRNO.FAULT;
        throw e;
      }
    };
  }
  return guarded;
}

export class Wasi {
  readonly stdout: OutputBuffer;
  readonly stderr: OutputBuffer;
  private memory: WasmMemory | undefined;
  private viewBuffer: ArrayBuffer | SharedArrayBuffer | undefined;
  private u8 = EMPTY;
  private dv = new DataView(new ArrayBuffer(0));
  private call: CallContext = { stdin: EMPTY, env: EMPTY, envCount: 0, args: EMPTY, argCount: 0, files: null };
  private stdinPos = 0;
  private readonly functions: Record<string, HostFunction>;

  constructor(
    limits: { stdout: number; stderr: number },
    /** False on an event loop: a guest that would sleep is stopped with WouldBlock instead. */
    private readonly maySleep = true,
  ) {
    this.stdout = new OutputBuffer(limits.stdout);
    this.stderr = new OutputBuffer(limits.stderr);
    this.functions = this.buildFunctions();
  }

  begin(call: CallContext): void {
    this.call = call;
    this.stdinPos = 0;
    this.stdout.reset();
    this.stderr.reset();
    this.memory = undefined;
    this.viewBuffer = undefined;
  }

  /** The instance's memory, once it exists (imported memories are bound before instantiation). */
  bindMemory(memory: WasmMemory | undefined): void {
    this.memory = memory;
    this.viewBuffer = undefined;
  }

  end(): void {
    this.call.files?.reset();
    this.call = { stdin: EMPTY, env: EMPTY, envCount: 0, args: EMPTY, argCount: 0, files: null };
    this.memory = undefined;
    this.viewBuffer = undefined;
    this.u8 = EMPTY;
    this.dv = new DataView(new ArrayBuffer(0));
  }

  /** The import object for a module importing `names` from wasi_snapshot_preview1. */
  importsFor(names: string[]): Record<string, HostFunction> {
    const out: Record<string, HostFunction> = {};
    for (const name of names) out[name] = this.functions[name] ?? (() => ERRNO.NOSYS);
    return out;
  }

  /** Views over guest memory, refreshed when memory.grow replaced the buffer. */
  private view(): void {
    const buffer = this.memory?.buffer;
    if (buffer === this.viewBuffer) return;
    this.viewBuffer = buffer;
    this.u8 = buffer ? new Uint8Array(buffer) : EMPTY;
    this.dv = buffer ? new DataView(buffer) : new DataView(new ArrayBuffer(0));
  }

  private inBounds(ptr: number, len: number): boolean {
    return ptr + len <= this.u8.length;
  }

  private buildFunctions(): Record<string, HostFunction> {
    return guardFaults({
      ...this.processFunctions(),
      ...this.fdFunctions(),
      ...this.pathFunctions(),
      ...this.readOnlyFunctions(),
    });
  }

  /** Arguments, environment, clocks, randomness, exit, and waiting. */
  private processFunctions(): Record<string, HostFunction> {
    return {
      args_sizes_get: (countPtr: number, sizePtr: number) =>
        this.sizes(this.call.argCount, this.call.args, countPtr, sizePtr),
      args_get: (ptrs: number, buf: number) => this.strings(this.call.args, ptrs, buf),
      environ_sizes_get: (countPtr: number, sizePtr: number) =>
        this.sizes(this.call.envCount, this.call.env, countPtr, sizePtr),
      environ_get: (ptrs: number, buf: number) => this.strings(this.call.env, ptrs, buf),
      clock_res_get: (id: number, resPtr: number) => {
        if (id < 0 || id > 3) return ERRNO.INVAL;
        this.view();
        this.dv.setBigUint64(resPtr >>> 0, 1000n, true);
        return ERRNO.SUCCESS;
      },
      clock_time_get: (id: number, _precision: bigint, timePtr: number) => {
        const t = this.now(id);
        if (t === undefined) return ERRNO.INVAL;
        this.view();
        this.dv.setBigUint64(timePtr >>> 0, t, true);
        return ERRNO.SUCCESS;
      },
      random_get: (ptr: number, len: number) => {
        this.view();
        if (!this.inBounds(ptr >>> 0, len >>> 0)) return ERRNO.FAULT;
        randomFillSync(this.u8, ptr >>> 0, len >>> 0);
        return ERRNO.SUCCESS;
      },
      proc_exit: (code: number) => {
        throw new ProcExit(code >>> 0);
      },
      sched_yield: () => ERRNO.SUCCESS,
      poll_oneoff: (inPtr: number, outPtr: number, nsubs: number, nevents: number) =>
        this.pollOneoff(inPtr >>> 0, outPtr >>> 0, nsubs >>> 0, nevents >>> 0),
    };
  }

  /** Descriptors: stdio, and the files of the read-only tree once opened. */
  private fdFunctions(): Record<string, HostFunction> {
    return {
      fd_write: (fd: number, iovs: number, iovsLen: number, nwritten: number) =>
        this.fdWrite(fd, iovs >>> 0, iovsLen >>> 0, nwritten >>> 0),
      fd_read: (fd: number, iovs: number, iovsLen: number, nread: number) =>
        this.fdRead(fd, iovs >>> 0, iovsLen >>> 0, nread >>> 0),
      fd_pread: (fd: number, iovs: number, iovsLen: number, offset: bigint, nread: number) =>
        this.fdRead(fd, iovs >>> 0, iovsLen >>> 0, nread >>> 0, Number(offset)),
      fd_close: (fd: number) => (fd <= 2 ? ERRNO.SUCCESS : (this.call.files?.close(fd) ?? ERRNO.BADF)),
      fd_seek: (fd: number, offset: bigint, whence: number, newOffset: number) => {
        if (fd <= 2) return ERRNO.SPIPE;
        const r = this.call.files?.seek(fd, offset, whence) ?? { errno: ERRNO.BADF };
        if ('errno' in r) return r.errno;
        this.view();
        this.dv.setBigUint64(newOffset >>> 0, BigInt(r.pos), true);
        return ERRNO.SUCCESS;
      },
      fd_tell: (fd: number, offset: number) => {
        if (fd <= 2) return ERRNO.SPIPE;
        const r = this.call.files?.seek(fd, 0n, 1) ?? { errno: ERRNO.BADF };
        if ('errno' in r) return r.errno;
        this.view();
        this.dv.setBigUint64(offset >>> 0, BigInt(r.pos), true);
        return ERRNO.SUCCESS;
      },
      fd_fdstat_get: (fd: number, ptr: number) => this.fdstat(fd, ptr >>> 0),
      fd_filestat_get: (fd: number, ptr: number) => {
        this.view();
        if (fd <= 2) {
          this.u8.fill(0, ptr >>> 0, (ptr >>> 0) + 64);
          this.dv.setUint8((ptr >>> 0) + 16, FILETYPE.CHARACTER_DEVICE);
          return ERRNO.SUCCESS;
        }
        const st = this.call.files?.stat(fd) ?? { errno: ERRNO.BADF };
        if ('errno' in st) return st.errno;
        writeFilestat(this.dv, ptr >>> 0, st);
        return ERRNO.SUCCESS;
      },
      fd_prestat_get: (fd: number, ptr: number) => {
        if (fd !== PREOPEN_FD || !this.call.files?.get(PREOPEN_FD)) return ERRNO.BADF;
        this.view();
        this.dv.setUint32(ptr >>> 0, 0, true); // tag 0: a directory
        this.dv.setUint32((ptr >>> 0) + 4, PREOPEN_NAME.length, true);
        return ERRNO.SUCCESS;
      },
      fd_prestat_dir_name: (fd: number, ptr: number, len: number) => {
        if (fd !== PREOPEN_FD || !this.call.files?.get(PREOPEN_FD)) return ERRNO.BADF;
        this.view();
        if (len >>> 0 < PREOPEN_NAME.length || !this.inBounds(ptr >>> 0, PREOPEN_NAME.length)) return ERRNO.INVAL;
        this.u8.set(Buffer.from(PREOPEN_NAME), ptr >>> 0);
        return ERRNO.SUCCESS;
      },
      fd_readdir: (fd: number, buf: number, bufLen: number, cookie: bigint, bufused: number) =>
        this.readdir(fd, buf >>> 0, bufLen >>> 0, Number(cookie), bufused >>> 0),
      fd_advise: (fd: number) => (fd <= 2 || this.call.files?.get(fd) ? ERRNO.SUCCESS : ERRNO.BADF),
    };
  }

  /** Paths under the preopened folder. */
  private pathFunctions(): Record<string, HostFunction> {
    return {
      path_open: (
        dirFd: number,
        _dirflags: number,
        pathPtr: number,
        pathLen: number,
        oflags: number,
        rightsBase: bigint,
        _rightsInh: bigint,
        fdflags: number,
        fdPtr: number,
      ) => {
        const files = this.call.files;
        if (!files) return ERRNO.BADF;
        const path = this.string(pathPtr >>> 0, pathLen >>> 0);
        if (path === undefined) return ERRNO.FAULT;
        const r = files.openAt(dirFd, path, oflags, rightsBase, fdflags);
        if ('errno' in r) return r.errno;
        this.view();
        this.dv.setUint32(fdPtr >>> 0, r.fd, true);
        return ERRNO.SUCCESS;
      },
      path_filestat_get: (dirFd: number, _flags: number, pathPtr: number, pathLen: number, ptr: number) => {
        const files = this.call.files;
        if (!files) return ERRNO.BADF;
        const path = this.string(pathPtr >>> 0, pathLen >>> 0);
        if (path === undefined) return ERRNO.FAULT;
        const st = files.statPath(dirFd, path);
        if ('errno' in st) return st.errno;
        this.view();
        writeFilestat(this.dv, ptr >>> 0, st);
        return ERRNO.SUCCESS;
      },
    };
  }

  /** The filesystem is read-only: say so rather than ENOSYS when there is one. */
  private readOnlyFunctions(): Record<string, HostFunction> {
    const fns: Record<string, HostFunction> = {};
    for (const name of READ_ONLY_WRITES) fns[name] = () => (this.call.files ? ERRNO.ROFS : ERRNO.NOSYS);
    return fns;
  }

  private now(id: number): bigint | undefined {
    if (id === CLOCK.REALTIME) return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
    if (id === CLOCK.MONOTONIC || id === CLOCK.PROCESS_CPUTIME || id === CLOCK.THREAD_CPUTIME)
      return process.hrtime.bigint();
    return undefined;
  }

  private string(ptr: number, len: number): string | undefined {
    this.view();
    if (!this.inBounds(ptr, len)) return undefined;
    return Buffer.from(this.u8.buffer, ptr, len).toString('utf8');
  }

  private sizes(count: number, blob: Uint8Array, countPtr: number, sizePtr: number): number {
    this.view();
    this.dv.setUint32(countPtr >>> 0, count, true);
    this.dv.setUint32(sizePtr >>> 0, blob.length, true);
    return ERRNO.SUCCESS;
  }

  private strings(blob: Uint8Array, ptrs: number, buf: number): number {
    this.view();
    const p = ptrs >>> 0;
    const b = buf >>> 0;
    if (!this.inBounds(b, blob.length)) return ERRNO.FAULT;
    this.u8.set(blob, b);
    nulOffsets(blob).forEach((offset, i) => this.dv.setUint32(p + i * 4, b + offset, true));
    return ERRNO.SUCCESS;
  }

  private fdWrite(fd: number, iovs: number, iovsLen: number, nwritten: number): number {
    const sink = fd === 1 ? this.stdout : fd === 2 ? this.stderr : undefined;
    if (!sink) return ERRNO.BADF;
    this.view();
    let total = 0;
    for (let i = 0; i < iovsLen; i++) {
      const ptr = this.dv.getUint32(iovs + i * 8, true);
      const len = this.dv.getUint32(iovs + i * 8 + 4, true);
      if (!this.inBounds(ptr, len)) return ERRNO.FAULT;
      if (!sink.write(this.u8, ptr, len) && sink === this.stdout) throw new OutputLimitExceeded(sink.limit);
      total += len;
    }
    this.dv.setUint32(nwritten, total, true);
    return ERRNO.SUCCESS;
  }

  private fdRead(fd: number, iovs: number, iovsLen: number, nread: number, position?: number): number {
    this.view();
    let total = 0;
    for (let i = 0; i < iovsLen; i++) {
      const ptr = this.dv.getUint32(iovs + i * 8, true);
      const len = this.dv.getUint32(iovs + i * 8 + 4, true);
      if (!this.inBounds(ptr, len)) return ERRNO.FAULT;
      let n: number;
      if (fd === 0) {
        if (position !== undefined) return ERRNO.SPIPE;
        const stdin = this.call.stdin;
        n = Math.min(len, stdin.length - this.stdinPos);
        this.u8.set(stdin.subarray(this.stdinPos, this.stdinPos + n), ptr);
        this.stdinPos += n;
      } else {
        const files = this.call.files;
        if (!files || fd <= 2) return ERRNO.BADF;
        const r = files.read(fd, this.u8, ptr, len, position === undefined ? undefined : position + total);
        if ('errno' in r) return r.errno;
        n = r.n;
      }
      total += n;
      if (n < len) break;
    }
    this.dv.setUint32(nread, total, true);
    return ERRNO.SUCCESS;
  }

  /** fdstat: filetype u8, flags u16 at 2, rights base u64 at 8, rights inheriting u64 at 16. */
  private fdstat(fd: number, ptr: number): number {
    let filetype: number;
    let base: bigint;
    let inheriting: bigint;
    if (fd >= 0 && fd <= 2) {
      filetype = FILETYPE.CHARACTER_DEVICE;
      base = STDIO_RIGHTS;
      inheriting = 0n;
    } else {
      const r = this.call.files?.rights(fd);
      if (!r) return ERRNO.BADF;
      ({ filetype, base, inheriting } = r);
    }
    this.view();
    this.u8.fill(0, ptr, ptr + 24);
    this.dv.setUint8(ptr, filetype);
    this.dv.setBigUint64(ptr + 8, base, true);
    this.dv.setBigUint64(ptr + 16, inheriting, true);
    return ERRNO.SUCCESS;
  }

  /** dirent: d_next u64, d_ino u64, d_namlen u32 at 16, d_type u8 at 20, then the name; truncated at bufLen. */
  private readdir(fd: number, buf: number, bufLen: number, cookie: number, bufused: number): number {
    const files = this.call.files;
    if (!files) return ERRNO.BADF;
    const entries = files.entries(fd, cookie);
    if ('errno' in entries) return entries.errno;
    this.view();
    if (!this.inBounds(buf, bufLen)) return ERRNO.FAULT;
    const header = new Uint8Array(24);
    const hv = new DataView(header.buffer);
    let used = 0;
    for (let i = cookie; i < entries.length && used < bufLen; i++) {
      const e = entries[i]!;
      hv.setBigUint64(0, BigInt(i + 1), true);
      hv.setBigUint64(8, e.ino, true);
      hv.setUint32(16, e.name.length, true);
      hv.setUint8(20, e.type);
      for (const part of [header, e.name]) {
        const take = Math.min(part.length, bufLen - used);
        this.u8.set(part.subarray(0, take), buf + used);
        used += take;
      }
    }
    this.dv.setUint32(bufused, used, true);
    return ERRNO.SUCCESS;
  }

  /**
   * Subscriptions are 48 bytes (userdata u64, tag u8 at 8, clock: id u32 at 16, timeout u64 at 24,
   * flags u16 at 40; fd: fd u32 at 16); events 32 bytes (userdata, error u16 at 8, type u8 at 10,
   * nbytes u64 at 16). Stdio is always ready; with only clocks, the worker sleeps until the nearest.
   */
  private pollOneoff(inPtr: number, outPtr: number, nsubs: number, neventsPtr: number): number {
    if (nsubs === 0) return ERRNO.INVAL;
    this.view();
    if (!this.inBounds(inPtr, nsubs * 48) || !this.inBounds(outPtr, nsubs * 32)) return ERRNO.FAULT;
    const fdEvents: Array<{ userdata: bigint; type: number; error: number; nbytes: bigint }> = [];
    const clocks: Array<{ userdata: bigint; waitNs: bigint }> = [];
    for (let i = 0; i < nsubs; i++) {
      const s = inPtr + i * 48;
      const userdata = this.dv.getBigUint64(s, true);
      const tag = this.dv.getUint8(s + 8);
      if (tag === EVENTTYPE.CLOCK) {
        const now = this.now(this.dv.getUint32(s + 16, true));
        if (now === undefined) return ERRNO.INVAL;
        const timeout = this.dv.getBigUint64(s + 24, true);
        const absolute = (this.dv.getUint16(s + 40, true) & 1) !== 0;
        const waitNs = absolute ? timeout - now : timeout;
        clocks.push({ userdata, waitNs: waitNs > 0n ? waitNs : 0n });
      } else if (tag === EVENTTYPE.FD_READ || tag === EVENTTYPE.FD_WRITE) {
        const fd = this.dv.getUint32(s + 16, true);
        const known = fd <= 2 || this.call.files?.get(fd) !== undefined;
        const nbytes = fd === 0 && tag === EVENTTYPE.FD_READ ? BigInt(this.call.stdin.length - this.stdinPos) : 0n;
        fdEvents.push({ userdata, type: tag, error: known ? ERRNO.SUCCESS : ERRNO.BADF, nbytes });
      } else return ERRNO.INVAL;
    }
    let events: Array<{ userdata: bigint; type: number; error: number; nbytes: bigint }> = fdEvents;
    if (events.length === 0) {
      const nearest = clocks.reduce((m, c) => (c.waitNs < m ? c.waitNs : m), clocks[0]!.waitNs);
      const ms = Number(nearest) / 1e6;
      if (ms > 0) {
        if (!this.maySleep) throw new WouldBlock();
        Atomics.wait(sleeper, 0, 0, ms);
      }
      events = clocks
        .filter((c) => c.waitNs <= nearest)
        .map((c) => ({ userdata: c.userdata, type: EVENTTYPE.CLOCK, error: ERRNO.SUCCESS, nbytes: 0n }));
      this.view();
    }
    events.forEach((e, i) => {
      const o = outPtr + i * 32;
      this.u8.fill(0, o, o + 32);
      this.dv.setBigUint64(o, e.userdata, true);
      this.dv.setUint16(o + 8, e.error, true);
      this.dv.setUint8(o + 10, e.type);
      this.dv.setBigUint64(o + 16, e.nbytes, true);
    });
    this.dv.setUint32(neventsPtr, events.length, true);
    return ERRNO.SUCCESS;
  }
}
