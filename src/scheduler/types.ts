/** The scheduler's face to triggers, the gateway and the CLI. */
export type { CallRecord, CallState, FunctionStatus, InstanceCounts, JobKind } from '../core/status.js';
import type { Invocation } from '../core/invocation.js';
import type { CallRecord, FunctionStatus } from '../core/status.js';
import type { Result } from '../core/result.js';

export interface Scheduler {
  /** Run a call to completion here or elsewhere. Always resolves; failures are error Results. */
  invoke(inv: Invocation): Promise<Result>;
  /** Accept an async call: recorded (durably) before this returns, run through the same queue. */
  submit(inv: Invocation): Promise<CallRecord>;
  /**
   * An async call's record; undefined when unknown or expired. A private function's record is
   * refused (401) unless the reader is `authenticated`.
   */
  call(id: string, authenticated: boolean): CallRecord | undefined;
  /** Live status of one function; undefined when not deployed. */
  status(name: string): FunctionStatus | undefined;
  /** Node memory budget and use, MiB. */
  capacity(): { memoryMiB: number; usedMiB: number };
  /** Stop accepting, wait for in-flight calls up to `drainMs`, stop every instance. */
  close(drainMs: number): Promise<void>;
}
