/** What the node says about its functions and calls: live status and async call records. */
import type { ResponseHeaders } from './headers.js';
import type { Report } from './report.js';

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
  result?: { status: number; headers: ResponseHeaders; body: string };
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

/** A function's calls and failed calls (5xx or a Tern error): since the node started, and among the recent ones. */
export interface CallCounts {
  calls: number;
  errors: number;
  recentCalls: number;
  recentErrors: number;
}
