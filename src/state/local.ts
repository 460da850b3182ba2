/**
 * The local tier: every value of this node in its own shared-memory segment (segment.ts), shared by
 * all instances on the node. Only the main thread writes; wasm workers read segments in place.
 * Bounded: value size, key count and the memory reserved for values.
 */
import { TernError } from '../core/errors.js';
import type { StateLimits } from './limits.js';
import { capacityFor, newSegment, retireSegment, segmentLength, writeSegment, type Segment } from '../core/segment.js';

/** Shrink a segment when a write leaves it this many times too big (and it is big). */
const SHRINK_FACTOR = 4;
const SHRINK_MIN_BYTES = 64 * 1024;

export class LocalTier {
  private readonly segments = new Map<string, Segment>();
  private reserved = 0;

  constructor(
    private readonly limits: Pick<StateLimits, 'maxValueBytes' | 'maxKeys' | 'maxTotalBytes'>,
    /** Called after every change of a key (persistence). */
    private readonly changed: (key: string) => void = () => {},
  ) {}

  get keyCount(): number {
    return this.segments.size;
  }

  get reservedBytes(): number {
    return this.reserved;
  }

  has(key: string): boolean {
    return this.segments.has(key);
  }

  keys(): IterableIterator<string> {
    return this.segments.keys();
  }

  size(key: string): number | undefined {
    const s = this.segments.get(key);
    return s ? segmentLength(s) : undefined;
  }

  /** A copy of the value (the main thread is the only writer: no seqlock needed here). */
  get(key: string): Buffer | undefined {
    const s = this.segments.get(key);
    if (!s) return undefined;
    return Buffer.from(s.u8.subarray(0, segmentLength(s)));
  }

  /** Up to `length` bytes from `offset` (fewer at the end of the value). */
  read(key: string, offset: number, length: number): Buffer | undefined {
    const s = this.segments.get(key);
    if (!s) return undefined;
    const total = segmentLength(s);
    checkRange(offset, 0);
    if (offset > total)
      throw new TernError('bad_request', `offset ${offset} is past the end of "${key}" (${total} bytes)`);
    return Buffer.from(s.u8.subarray(offset, Math.min(total, offset + Math.max(0, length))));
  }

  /** The shared buffer holding the key's value now (it changes when the value outgrows it). */
  segment(key: string): SharedArrayBuffer | undefined {
    return this.segments.get(key)?.sab;
  }

  set(key: string, value: Uint8Array): void {
    this.checkValueSize(key, value.length);
    const s = this.room(key, value.length, false);
    writeSegment(s, 0, value, value.length);
    this.changed(key);
  }

  /** Overwrite bytes at `offset` (≤ the current length; the value grows when the write passes its end). */
  write(key: string, offset: number, bytes: Uint8Array): number {
    checkRange(offset, bytes.length);
    const current = this.size(key) ?? 0;
    if (offset > current)
      throw new TernError(
        'bad_request',
        `offset ${offset} is past the end of "${key}" (${current} bytes): writes may not leave a gap`,
      );
    const length = Math.max(current, offset + bytes.length);
    this.checkValueSize(key, length);
    const s = this.room(key, length, true);
    writeSegment(s, offset, bytes, length);
    this.changed(key);
    return length;
  }

  /** Add bytes at the end; returns the new length. */
  append(key: string, bytes: Uint8Array): number {
    return this.write(key, this.size(key) ?? 0, bytes);
  }

  delete(key: string): boolean {
    const s = this.segments.get(key);
    if (!s) return false;
    this.segments.delete(key);
    this.reserved -= s.capacity;
    retireSegment(s);
    this.changed(key);
    return true;
  }

  private checkValueSize(key: string, length: number): void {
    if (length > this.limits.maxValueBytes) {
      throw new TernError(
        'too_large',
        `state value "${key}" would be ${length} bytes, over the ${this.limits.maxValueBytes}-byte limit ([state] max-value)`,
      );
    }
  }

  /**
   * A segment that can hold `length` bytes: the current one, or a new one (the old one is retired,
   * its bytes copied over when `keep`). Limits are checked before anything changes.
   */
  private room(key: string, length: number, keep: boolean): Segment {
    const current = this.segments.get(key);
    if (
      current &&
      length <= current.capacity &&
      !(current.capacity >= SHRINK_MIN_BYTES && length * SHRINK_FACTOR < current.capacity)
    )
      return current;
    if (!current && this.segments.size >= this.limits.maxKeys) {
      throw new TernError(
        'no_capacity',
        `the state store holds ${this.segments.size} keys, its limit ([state] max-keys)`,
      );
    }
    // Growth doubles, so appending byte by byte copies each byte O(1) times on average.
    const wanted =
      current && length > current.capacity
        ? Math.max(length, Math.min(current.capacity * 2, this.limits.maxValueBytes))
        : length;
    const capacity = capacityFor(wanted);
    const after = this.reserved - (current?.capacity ?? 0) + capacity;
    if (after > this.limits.maxTotalBytes) {
      throw new TernError(
        'no_capacity',
        `the state store is full: ${this.reserved} of ${this.limits.maxTotalBytes} bytes reserved ([state] max-bytes)`,
      );
    }
    const next = newSegment(capacity);
    if (current && keep) {
      const old = segmentLength(current);
      writeSegment(next, 0, current.u8.subarray(0, Math.min(old, capacity)), Math.min(old, capacity));
    }
    this.segments.set(key, next);
    this.reserved = after;
    if (current) retireSegment(current);
    return next;
  }
}

function checkRange(offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new TernError('bad_request', `bad offset or length (${offset}, ${length})`);
  }
}
