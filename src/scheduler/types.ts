/** The scheduler's face to triggers, the gateway and the CLI. */
import type { Invocation } from '../core/invocation.js';
import type { Report } from '../core/report.js';
import type { Result } from '../core/result.js';

export interface InstanceCounts {
  starting: number;
  idle: number;
  busy: number;
  total: number;
}

export interface FunctionStatus {
  name: string;
  instances: InstanceCounts;
  /** Calls waiting for an instance. */
  queued: number;
  /** Calls completed since the node started (any status). */
  invocations: number;
  /** Memory reserved by this function's instances, MiB. */
  memoryMiB: number;
}

export type CallState = 'queued' | 'running' | 'done' | 'failed';

/** An async call's record as `GET /v1/calls/{id}` returns it. */
export interface CallRecord {
  id: string;
  function: string;
  state: CallState;
  /** ISO times. */
  createdAt: string;
  finishedAt?: string;
  /** The function's response; body base64. Present when done (and failed with a response). */
  result?: { status: number; headers: Record<string, string>; body: string };
  report?: Report;
  /** Why it failed (also in result when the failure has one). */
  error?: { code: string; message: string };
  /** The function was private when the call was made: only token holders may read the record. */
  private?: true;
  /** A job that is not one function call (a workflow run; `function` is then the workflow's name). */
  kind?: JobKind;
}

/** Kinds of async jobs besides function calls. Their unfinished records survive a restart: their owner resumes them. */
export type JobKind = 'workflow';

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
