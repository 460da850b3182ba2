/**
 * Host capabilities: what a function can ask of the node from inside (shared state, chained
 * calls). Declared here, in the core, so that the runtimes that offer them to functions and the
 * state service that implements them depend on this contract, not on each other.
 */
import type { Invocation } from './invocation.js';
import type { Result } from './result.js';

/** What a function can ask of the node from inside (state, chaining). Filled in by the node. */
export interface HostServices {
  /** A chained call: `fn` runs through the scheduler as a child of `parent` (depth + 1). */
  invoke(
    parent: Invocation,
    fn: string,
    body: Buffer,
    opts?: { method?: string; path?: string; headers?: Record<string, string> },
  ): Promise<Result>;
  /** Shared state (docs/state.md); absent on a node without it. */
  state?: HostState;
}

/**
 * The node's state store as runtimes see it: the local tier of this node (shared by all its
 * instances) and, with `redis` configured, the global tier through push/pull and global locks.
 * `owner` is the call id that holds a lock; the node releases a call's locks when the call ends.
 * Failures throw TernError: bad_request (key, offset), too_large, no_capacity (store full),
 * conflict (a lock not acquired in time), unavailable (the global tier is down).
 */
export interface HostState {
  get(key: string): Buffer | undefined;
  /** Up to `length` bytes from `offset`. */
  read(key: string, offset: number, length: number): Buffer | undefined;
  size(key: string): number | undefined;
  set(key: string, value: Uint8Array): void;
  /** Overwrite at `offset` (≤ current length); returns the new length. */
  write(key: string, offset: number, bytes: Uint8Array): number;
  /** Returns the new length. */
  append(key: string, bytes: Uint8Array): number;
  delete(key: string): boolean;
  lock(key: string, owner: string, global: boolean): Promise<void>;
  unlock(key: string, owner: string, global: boolean): Promise<void>;
  /** Local value -> global tier (an absent local value deletes the global one). */
  push(key: string): Promise<void>;
  /** Global value -> local tier; false (and the local value deleted) when there is none. */
  pull(key: string): Promise<boolean>;
  /** The SharedArrayBuffer holding the key's value now (layout: src/state/segment.ts), for in-place reads. */
  segment(key: string): SharedArrayBuffer | undefined;
}

/** Runs a call through the node (the scheduler): what chained calls are bound to. */
export interface CallRunner {
  invoke(inv: Invocation): Promise<Result>;
}

/**
 * What must happen once a call has its result, before anyone observes it: the host side attaches
 * the call's chained children to its report and frees the state locks the call still holds.
 */
export type CallFinisher = (inv: Invocation, result: Result) => void;
