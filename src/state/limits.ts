/** Bounds of the state store (config `[state]`). */
export interface StateLimits {
  /** Largest value, bytes. */
  maxValueBytes: number;
  /** Most keys in the local tier. */
  maxKeys: number;
  /** Memory the local tier may reserve for values, bytes. */
  maxTotalBytes: number;
  /** Longest a call waits for a lock (local or global), ms. */
  lockWaitMs: number;
  /** Lifetime of a global lock in Redis, ms: a holder that dies frees it after this. */
  lockTtlMs: number;
}

export const DEFAULT_STATE_LIMITS: StateLimits = {
  maxValueBytes: 16 * 1024 * 1024,
  maxKeys: 10_000,
  maxTotalBytes: 256 * 1024 * 1024,
  lockWaitMs: 10_000,
  lockTtlMs: 30_000,
};
