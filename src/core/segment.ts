/**
 * One value of the local tier in a SharedArrayBuffer, so that wasm worker threads read it in place
 * (no message, no round trip to the node's main thread) while the main thread is its only writer.
 *
 * Layout: an Int32 header, then the bytes.
 *   SEQ    a seqlock: odd while the main thread writes; readers retry when it moved under them.
 *   LENGTH the value's length (≤ capacity).
 *   STALE  1 once the value moved to a bigger segment or was deleted: readers drop the segment and
 *          ask the main thread for the current one.
 * The main thread never waits on a reader (it cannot block the event loop); readers never wait on
 * the writer for long (a write is one memcpy), and give up after a few retries.
 *
 * Dependency-free on purpose: worker threads import it.
 */
export const SEG = { SEQ: 0, LENGTH: 1, STALE: 2 } as const;
export const SEGMENT_HEADER_BYTES = 16;
const MIN_CAPACITY = 64;

export interface Segment {
  readonly sab: SharedArrayBuffer;
  readonly i32: Int32Array;
  readonly u8: Uint8Array;
  readonly capacity: number;
}

export function wrapSegment(sab: SharedArrayBuffer): Segment {
  return {
    sab,
    i32: new Int32Array(sab, 0, SEGMENT_HEADER_BYTES / 4),
    u8: new Uint8Array(sab, SEGMENT_HEADER_BYTES),
    capacity: sab.byteLength - SEGMENT_HEADER_BYTES,
  };
}

/** Room for `needed` bytes: small values round up to a power of two, big ones to 4 KiB. */
export function capacityFor(needed: number): number {
  if (needed <= MIN_CAPACITY) return MIN_CAPACITY;
  if (needed <= 64 * 1024) return 2 ** Math.ceil(Math.log2(needed));
  return Math.ceil(needed / 4096) * 4096;
}

export function newSegment(capacity: number): Segment {
  return wrapSegment(new SharedArrayBuffer(SEGMENT_HEADER_BYTES + capacity));
}

export function segmentLength(s: Segment): number {
  return Atomics.load(s.i32, SEG.LENGTH);
}

/** Main thread only: write `bytes` at `offset` and set the length, inside the seqlock. */
export function writeSegment(s: Segment, offset: number, bytes: Uint8Array, length: number): void {
  Atomics.add(s.i32, SEG.SEQ, 1);
  s.u8.set(bytes, offset);
  Atomics.store(s.i32, SEG.LENGTH, length);
  Atomics.add(s.i32, SEG.SEQ, 1);
}

/** Main thread only: the value moved or is gone; bumping SEQ makes a reader in flight retry. */
export function retireSegment(s: Segment): void {
  Atomics.add(s.i32, SEG.SEQ, 1);
  Atomics.store(s.i32, SEG.STALE, 1);
  Atomics.add(s.i32, SEG.SEQ, 1);
}

export const READ_STALE = -1;
export const READ_CONTENDED = -2;

/**
 * From any thread: copy up to `into.length` bytes of the value, from `offset`, into `into`.
 * Returns the value's whole length (the copied part is min(into.length, length - offset)), or
 * READ_STALE (ask for the current segment) or READ_CONTENDED (writes kept racing the copy).
 */
export function readSegment(s: Segment, offset: number, into: Uint8Array): number {
  for (let attempt = 0; attempt < 100; attempt++) {
    const before = Atomics.load(s.i32, SEG.SEQ);
    if ((before & 1) === 1) continue;
    if (Atomics.load(s.i32, SEG.STALE) === 1) return READ_STALE;
    const length = Atomics.load(s.i32, SEG.LENGTH);
    const n = Math.max(0, Math.min(into.length, length - offset));
    if (n > 0) into.set(s.u8.subarray(offset, offset + n));
    if (Atomics.load(s.i32, SEG.SEQ) === before) return length;
  }
  return READ_CONTENDED;
}
