/**
 * The instances this edge loop holds on lease (pool/leases.ts): per function, the ones it may run
 * calls on without asking the control loop. A lease goes back when the pool asks for it (revoked),
 * when it is spent (single-use), when a call on it failed fatally, or when it has been idle a while.
 */
import type { TernError } from '../../core/errors.js';
import type { Instance } from '../../runtimes/runtime.js';
import type { LeaseGrant } from '../protocol.js';

export class EdgeLease {
  inflight = 0;
  calls = 0;
  lastUsed = performance.now();
  revoked = false;
  /** A fatal failure: the instance must not be trusted again. */
  broken: TernError | undefined;
  returned = false;

  constructor(
    readonly grant: LeaseGrant,
    readonly instance: Instance,
  ) {}

  /** Room for one more call now. */
  get open(): boolean {
    return (
      !this.revoked &&
      this.broken === undefined &&
      this.inflight < this.grant.perInstance &&
      (this.grant.maxCalls === 0 || this.calls + this.inflight < this.grant.maxCalls)
    );
  }

  /** Nothing more will run on it and nothing runs now: time to give it back. */
  get finished(): boolean {
    if (this.returned || this.inflight !== 0) return false;
    return (
      this.revoked || this.broken !== undefined || (this.grant.maxCalls !== 0 && this.calls >= this.grant.maxCalls)
    );
  }
}

export class LeaseTable {
  private readonly byFunction = new Map<string, EdgeLease[]>();
  private readonly byInstance = new Map<string, EdgeLease>();

  add(lease: EdgeLease): void {
    let list = this.byFunction.get(lease.grant.fn);
    if (!list) this.byFunction.set(lease.grant.fn, (list = []));
    list.push(lease);
    this.byInstance.set(lease.grant.instance, lease);
  }

  /** A lease of `fn` with room for a call. */
  take(fn: string): EdgeLease | undefined {
    const list = this.byFunction.get(fn);
    if (list === undefined) return undefined;
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.open) return list[i];
    return undefined;
  }

  get(instance: string): EdgeLease | undefined {
    return this.byInstance.get(instance);
  }

  remove(lease: EdgeLease): void {
    this.byInstance.delete(lease.grant.instance);
    const list = this.byFunction.get(lease.grant.fn);
    if (!list) return;
    const i = list.indexOf(lease);
    if (i !== -1) list.splice(i, 1);
    if (list.length === 0) this.byFunction.delete(lease.grant.fn);
  }

  all(): EdgeLease[] {
    return [...this.byInstance.values()];
  }

  get size(): number {
    return this.byInstance.size;
  }
}
