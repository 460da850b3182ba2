/**
 * Leases: a pool instance hosted by an edge loop may be lent to that loop, which then runs calls
 * on it without asking the pool for each. From the pool's side a lent instance is fully taken
 * (no other call gets it) until the loop gives it back; the pool asks for it back whenever it
 * needs the instance (an update, removal, eviction, shutdown, or calls queueing for the function).
 *
 * The loop counts its calls on a lease in a table of shared counters, so the pool's status
 * (busy or idle, calls done) stays exact without a message per call.
 */
/** The loop an instance lives on: 0 is the control loop (the main thread), edge loops are 1..N. */
export type LoopId = number;

/** Where lent instances are asked back: the node's loops (src/loops/fleet.ts). */
export interface LeaseHost {
  readonly counters: LeaseCounters;
  /** Ask `loop` to give back the lease on `instance` once no call runs on it. */
  revoke(loop: LoopId, instance: string): void;
}

/** A pool instance lent to the loop that hosts it, for as many calls as it likes until asked back. */
export interface LeaseGrant {
  /** The pool's instance id (also the runtime instance id on the loop). */
  instance: string;
  fn: string;
  version: string;
  /** Calls it may run at once. */
  perInstance: number;
  /** 1 for single-use (return it spent after one call), else unbounded. */
  maxCalls: number;
  timeoutMs: number;
  /** Index of the lease's counters in the shared lease table (busy calls, calls done). */
  counters: number;
}

/** How the first call of a lease started (it went through the pool). */
export interface FirstCall {
  cold: boolean;
  initMs: number;
  queueMs: number;
}

/** What a forwarded call gets when the pool lends it the instance it was given. */
export interface Lent {
  lease: LeaseGrant;
  first: FirstCall;
}

export interface Lease {
  loop: LoopId;
  /** Index in the shared counters. */
  counters: number;
  revoked: boolean;
}

const FIELDS = 2;
const BUSY = 0;
const CALLS = 1;

/**
 * A table of per-lease counters in shared memory: the loop holding a lease adds to them with
 * Atomics, the control loop reads them. Indexes are handed out here (control loop only).
 */
export class LeaseCounters {
  readonly buffer: SharedArrayBuffer;
  private readonly cells: Int32Array;
  private readonly free: number[] = [];
  private next = 0;

  constructor(readonly capacity = 1 << 16) {
    this.buffer = new SharedArrayBuffer(capacity * FIELDS * Int32Array.BYTES_PER_ELEMENT);
    this.cells = new Int32Array(this.buffer);
  }

  /** A zeroed index, or undefined when every one is in use (the instance is then not lent). */
  alloc(): number | undefined {
    const index = this.free.pop() ?? (this.next < this.capacity ? this.next++ : undefined);
    if (index === undefined) return undefined;
    Atomics.store(this.cells, index * FIELDS + BUSY, 0);
    Atomics.store(this.cells, index * FIELDS + CALLS, 0);
    return index;
  }

  release(index: number): void {
    this.free.push(index);
  }

  busy(index: number): number {
    return Atomics.load(this.cells, index * FIELDS + BUSY);
  }

  calls(index: number): number {
    return Atomics.load(this.cells, index * FIELDS + CALLS);
  }
}

/** The holding loop's side of the same table. */
export class LeaseCounterCells {
  private readonly cells: Int32Array;

  constructor(buffer: SharedArrayBuffer) {
    this.cells = new Int32Array(buffer);
  }

  began(index: number): void {
    Atomics.add(this.cells, index * FIELDS + BUSY, 1);
  }

  ended(index: number): void {
    Atomics.sub(this.cells, index * FIELDS + BUSY, 1);
    Atomics.add(this.cells, index * FIELDS + CALLS, 1);
  }
}
