/** How hard each scenario pushes: the full run (≤ ~10 min on 2 cores) or the quick run the tests use. */
export interface Plan {
  quick: boolean;
  /** HTTP load per target: keep-alive connections, warm-up and measured time (in `rounds` interleaved parts). */
  connections: number;
  warmupMs: number;
  durationMs: number;
  rounds: number;
  /** Sequential cold calls per target: at most `samples`, stopping after `maxMs`. */
  cold: { wasmSamples: number; processSamples: number; maxMs: number };
  /** Idle warm instances kept per runtime for the memory scenario. */
  memoryInstances: { wasm: number; process: number };
  /** Settle time before each memory reading (lets the node finish what prewarm started). */
  memorySettleMs: number;
  /** Bound on each component bench from the other bench files. */
  componentTimeoutMs: number;
  /** The core-scaling scenario's wrk load per target (seconds; wrk's smallest run is 1 s). */
  scaling: { connections: number; warmupS: number; durationS: number };
}

export const FULL_PLAN: Plan = {
  quick: false,
  connections: 16,
  warmupMs: 2_000,
  durationMs: 6_000,
  rounds: 3,
  cold: { wasmSamples: 2_000, processSamples: 100, maxMs: 10_000 },
  memoryInstances: { wasm: 1_000, process: 8 },
  memorySettleMs: 2_000,
  componentTimeoutMs: 150_000,
  scaling: { connections: 64, warmupS: 3, durationS: 8 },
};

export const QUICK_PLAN: Plan = {
  quick: true,
  connections: 4,
  warmupMs: 100,
  durationMs: 200,
  rounds: 1,
  cold: { wasmSamples: 5, processSamples: 3, maxMs: 1_000 },
  memoryInstances: { wasm: 10, process: 1 },
  memorySettleMs: 100,
  componentTimeoutMs: 60_000,
  scaling: { connections: 8, warmupS: 1, durationS: 1 },
};
