/**
 * Short wasm calls run on the calling event loop's own thread: no hand-off to a worker (which costs
 * more than a hello call itself). Only modules made preemptible (preempt.ts) run here, with a fuel
 * budget worth a few milliseconds: a call that spends it is stopped, its output dropped, and it
 * runs again on a worker thread, where it has its whole timeout and can be ended. Nothing a call
 * did is visible outside it (in-memory WASI, no `tern` imports here), so running it again is safe.
 * A module that was preempted stays off this path for a while, so one function's long calls never
 * hold the loop for more than a slice at a time.
 */
import { GuestRunner } from './guest.js';
import { OUTCOME, type ProgramMessage } from './protocol.js';
import type { CallInput, RawOutcome } from './pooled-worker.js';

/** Roughly how long an inline call may hold the loop. */
export const INLINE_SLICE_MS = 2;
/** Calls whose recent run time is above this go to workers directly. */
const INLINE_MAX_RUN_US = 1_000;
/** After a preemption, the module's calls go to workers this long before inline is tried again. */
const BACKOFF_MS = 10_000;
/** Fuel units per millisecond before any measurement (preempt.ts: a unit is ~4 bytes of code). */
const INITIAL_UNITS_PER_MS = 200_000;

/** What the inline path keeps per program, beside the worker pool's Program. */
export interface InlineProgram {
  /** The preemptible variant, delivered to this thread's runner under `id`. */
  message: ProgramMessage;
  /** performance.now() before which the program does not run inline (after a preemption). */
  notBefore: number;
}

export class InlineRunner {
  private readonly guest: GuestRunner;
  /** Fuel spent per millisecond, measured on calls that ran long enough to tell. */
  private unitsPerMs = INITIAL_UNITS_PER_MS;

  constructor(
    limits: { stdout: number; stderr: number },
    /** False: every call goes to the workers (the worker pool's own tests). */
    readonly enabled = true,
  ) {
    this.guest = new GuestRunner(limits, undefined, true);
  }

  /** Whether a call of this program may try the inline path now. */
  eligible(program: InlineProgram | undefined, recentRunUs: number, input: CallInput): program is InlineProgram {
    return (
      program !== undefined &&
      input.host === undefined &&
      recentRunUs <= INLINE_MAX_RUN_US &&
      performance.now() >= program.notBefore
    );
  }

  forget(id: number): void {
    this.guest.forget(id);
  }

  /** The call's outcome, or undefined when it was preempted (run it on a worker). */
  run(program: InlineProgram, input: CallInput): Extract<RawOutcome, { runUs: number }> | undefined {
    if (!this.guest.has(program.message.id)) this.guest.addProgram(program.message);
    const budget = Math.ceil(this.unitsPerMs * INLINE_SLICE_MS);
    const started = performance.now();
    const o = this.guest.run({
      programId: program.message.id,
      stdin: input.body,
      env: input.env,
      envCount: input.envCount,
      root: input.root,
      fuel: budget,
    });
    const runMs = performance.now() - started;
    try {
      if (o.preempted) {
        program.notBefore = performance.now() + BACKOFF_MS;
        if (o.blocked) return undefined;
        // Keep the budget near the slice on this machine: halve it when it ran far over, double it when far under.
        if (runMs > INLINE_SLICE_MS * 4) this.unitsPerMs = Math.max(1_000, this.unitsPerMs / 2);
        else if (runMs < INLINE_SLICE_MS / 4) this.unitsPerMs = Math.min(1e9, this.unitsPerMs * 2);
        return undefined;
      }
      if (o.kind === OUTCOME.INTERNAL) return undefined;
      const wasi = this.guest.wasi;
      return {
        kind: o.kind,
        exitCode: o.exitCode,
        stdout: Buffer.from(wasi.stdout.bytes()),
        stderr: Buffer.from(wasi.stderr.bytes()),
        stderrDropped: wasi.stderr.dropped,
        message: o.message,
        runUs: runMs * 1000,
        memoryBytes: o.memoryBytes,
      };
    } finally {
      this.guest.end();
    }
  }
}
