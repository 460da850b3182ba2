/** One instance as the pool tracks it: its version, load and lifecycle flags. */
import { getEventListeners } from 'node:events';
import type { TernError } from '../core/errors.js';
import type { InstanceStopReason } from '../core/telemetry.js';
import type { DeployedFunction } from '../registry/registry.js';
import type { Instance } from '../runtimes/runtime.js';
import type { EvictionCandidate } from './budget.js';
import type { Lease, LoopId } from './leases.js';

let sequence = 0;

/** Instance ids are unique per process: "<function>-<n>" (the node's scratch folder is fresh per start). */
export function nextInstanceId(fn: string): string {
  sequence = (sequence + 1) % Number.MAX_SAFE_INTEGER;
  return `${fn}-${sequence.toString(36)}`;
}

/**
 * Controllers of stopped instances, for the next instances. Node 20 takes about 2 µs to make an
 * AbortSignal — as much as all the rest of a single-use instance's bookkeeping, and single-use
 * means one instance per call. A controller comes back here only once its instance is gone, if it
 * was never aborted and nothing listens to it any more: to the next instance it is then the same
 * as a new one.
 */
const spareControllers: AbortController[] = [];
const MAX_SPARE_CONTROLLERS = 256;

function takeController(): AbortController {
  return spareControllers.pop() ?? new AbortController();
}

export class Slot implements EvictionCandidate {
  readonly id: string;
  readonly memoryMiB: number;
  /** Set once runtime.start resolves. */
  instance: Instance | undefined;
  /** Resolves when starting is over: undefined when the instance is up, else why it failed. */
  ready: Promise<TernError | undefined> | undefined;
  starting = true;
  /** Calls running on it now. */
  inflight = 0;
  /** Calls waiting for it to finish starting; they become `inflight` when it is up. */
  claims = 0;
  /** Took at least one call (single-use instances never take a second). */
  used = false;
  /** In the pool's ready list. */
  inReady = false;
  /** Out of service: finishes what it runs, takes nothing new. */
  retired = false;
  /** stop()/kill() under way or done. */
  stopping = false;
  stopReason: InstanceStopReason = 'keepalive';
  stopDetail: string | undefined;
  /** performance.now() of the start request, of readiness, of the last finished call. */
  startedAt = 0;
  readyAt = 0;
  lastUsed = 0;
  /** Lent to the loop hosting it (pool/leases.ts). */
  lease: Lease | undefined;
  /** One controller for the instance's life: aborting it means the instance is being killed. */
  readonly abort: AbortController = takeController();

  constructor(
    readonly fn: DeployedFunction,
    private readonly evictor: (slot: Slot) => void,
  ) {
    this.id = nextInstanceId(fn.spec.name);
    this.memoryMiB = fn.spec.memory;
  }

  /** The loop the instance lives on (0: the control loop). */
  get home(): LoopId {
    return this.instance?.home ?? 0;
  }

  evict(): void {
    this.evictor(this);
  }

  /** The instance has stopped: its controller may serve another (see spareControllers). */
  releaseController(): void {
    const signal = this.abort.signal;
    if (
      signal.aborted ||
      getEventListeners(signal, 'abort').length !== 0 ||
      spareControllers.length >= MAX_SPARE_CONTROLLERS
    )
      return;
    spareControllers.push(this.abort);
  }
}
