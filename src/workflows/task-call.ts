/**
 * A Task state's call: one invocation through the scheduler like any other (pools, policies,
 * offloading and execution reports apply). JSON in (POST, application/json), JSON out: a body
 * that is not JSON becomes a string. A failed call becomes a named error for Retry and Catch.
 */
import { createInvocation } from '../core/invocation.js';
import type { Result } from '../core/result.js';
import type { Scheduler } from '../scheduler/types.js';
import { StatesError, STATES_ERRORS, TERN_ERRORS } from './errors.js';
import type { TaskCall, TaskOutcome } from './interpreter.js';
import { isObject, type Json } from './json.js';

export interface TaskRun {
  id: string;
  authenticated: boolean;
  maxPayloadBytes: number;
}

/** Tern's error codes (report.error) as the error names a workflow sees. */
const CODE_ERRORS: Record<string, string> = {
  timeout: TERN_ERRORS.FunctionTimeout,
  function_crashed: TERN_ERRORS.FunctionCrashed,
  memory_exceeded: TERN_ERRORS.FunctionCrashed,
  not_found: TERN_ERRORS.FunctionNotFound,
  queue_full: TERN_ERRORS.NoCapacity,
  queue_timeout: TERN_ERRORS.NoCapacity,
  no_capacity: TERN_ERRORS.NoCapacity,
  unavailable: TERN_ERRORS.NoCapacity,
  unauthorized: STATES_ERRORS.Permissions,
  forbidden: STATES_ERRORS.Permissions,
};

export async function callTask(
  scheduler: Pick<Scheduler, 'invoke'>,
  call: TaskCall,
  run: TaskRun,
): Promise<TaskOutcome> {
  const inv = createInvocation({
    function: call.fn,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: call.body,
    trigger: 'workflow',
    parent: run.id,
    authenticated: run.authenticated,
  });
  const result = await scheduler.invoke(inv);
  const report = result.report;
  if (report.error !== undefined || result.status >= 400) return { error: taskError(result), report };
  if (result.body.length > run.maxPayloadBytes)
    return {
      error: new StatesError(
        STATES_ERRORS.DataLimitExceeded,
        `function "${call.fn}" answered ${result.body.length} bytes, over the node's ${run.maxPayloadBytes}-byte limit for a payload`,
      ),
      report,
    };
  return { output: parseOutput(result.body), report };
}

function parseOutput(body: Buffer): Json {
  if (body.length === 0) return null;
  const text = body.toString('utf8');
  try {
    return JSON.parse(text) as Json;
  } catch {
    return text;
  }
}

/**
 * The error a failed call raises: Tern's own failures by code; a function's error reply by the
 * `error` (and `cause`) it names in a JSON body, else Tern.FunctionError with the status and body.
 */
function taskError(result: Result): StatesError {
  const text = result.body.toString('utf8', 0, Math.min(result.body.length, 2048));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const code = result.report.error;
  if (code !== undefined) {
    const message =
      isObject(parsed) && isObject(parsed.error) && typeof parsed.error.message === 'string'
        ? parsed.error.message
        : text;
    return new StatesError(CODE_ERRORS[code] ?? STATES_ERRORS.TaskFailed, `${code}: ${message}`, { fromTask: true });
  }
  if (isObject(parsed) && typeof parsed.error === 'string' && parsed.error !== '') {
    const cause = typeof parsed.cause === 'string' ? parsed.cause : `the function answered ${result.status}`;
    return new StatesError(parsed.error, cause, { fromTask: true });
  }
  return new StatesError(TERN_ERRORS.FunctionError, `the function answered ${result.status}: ${text}`, {
    fromTask: true,
  });
}
