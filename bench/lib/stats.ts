/** Order statistics of latency samples, the one way every scenario summarises them. */

export interface LatencySummary {
  medianMs: number;
  p99Ms: number;
  samples: number;
}

/** Nearest-rank quantile of an ascending array (0 for no samples). */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/** Round to `digits` decimals; keeps JSON and tables short. */
export function round(value: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function summarise(samplesMs: ArrayLike<number>): LatencySummary {
  const sorted = Float64Array.from(samplesMs).sort();
  return { medianMs: round(quantile(sorted, 0.5), 4), p99Ms: round(quantile(sorted, 0.99), 4), samples: sorted.length };
}
