/**
 * ASL errors: a name (`States.*`, `Tern.*` or a function's own) and a cause. A state that fails
 * throws a StatesError; Retry and Catch match it by name (`ErrorEquals`).
 */
export const STATES_ERRORS = {
  ALL: 'States.ALL',
  Timeout: 'States.Timeout',
  TaskFailed: 'States.TaskFailed',
  Permissions: 'States.Permissions',
  ResultPathMatchFailure: 'States.ResultPathMatchFailure',
  ParameterPathFailure: 'States.ParameterPathFailure',
  BranchFailed: 'States.BranchFailed',
  NoChoiceMatched: 'States.NoChoiceMatched',
  IntrinsicFailure: 'States.IntrinsicFailure',
  Runtime: 'States.Runtime',
  DataLimitExceeded: 'States.DataLimitExceeded',
  HeartbeatTimeout: 'States.HeartbeatTimeout',
  ExceedToleratedFailureThreshold: 'States.ExceedToleratedFailureThreshold',
} as const;

/** Errors a Task state raises for what happened to its call on the node (see docs/workflows.md). */
export const TERN_ERRORS = {
  FunctionError: 'Tern.FunctionError',
  FunctionTimeout: 'Tern.FunctionTimeout',
  FunctionCrashed: 'Tern.FunctionCrashed',
  FunctionNotFound: 'Tern.FunctionNotFound',
  NoCapacity: 'Tern.NoCapacity',
} as const;

export class StatesError extends Error {
  /** True for errors a Task raised: `States.TaskFailed` in ErrorEquals matches them. */
  readonly fromTask: boolean;

  constructor(
    readonly error: string,
    override readonly cause: string,
    opts: { fromTask?: boolean } = {},
  ) {
    super(`${error}: ${cause}`);
    this.name = 'StatesError';
    this.fromTask = opts.fromTask ?? false;
  }

  /** The error output a Catch hands on: {Error, Cause}. */
  toJson(): { Error: string; Cause: string } {
    return { Error: this.error, Cause: this.cause };
  }
}

/** A run cancelled from outside (the node shuts down, a sibling branch failed): never caught. */
export class Cancelled extends Error {
  constructor(readonly why: string) {
    super(why);
    this.name = 'Cancelled';
  }
}

/** Errors that `States.ALL` does not match and no Catch handles (as in AWS Step Functions). */
const TERMINAL: ReadonlySet<string> = new Set([STATES_ERRORS.Runtime, STATES_ERRORS.DataLimitExceeded]);

/**
 * Whether a retrier's or catcher's ErrorEquals matches `err`. `States.ALL` matches all but the
 * terminal errors; `States.TaskFailed` matches any error a Task raised except `States.Timeout`.
 */
export function errorMatches(errorEquals: readonly string[], err: StatesError): boolean {
  if (err.error === STATES_ERRORS.Runtime) return false;
  for (const name of errorEquals) {
    if (name === err.error) return true;
    if (name === STATES_ERRORS.ALL && !TERMINAL.has(err.error)) return true;
    if (name === STATES_ERRORS.TaskFailed && err.fromTask && err.error !== STATES_ERRORS.Timeout) return true;
  }
  return false;
}

/** Any thrown value as a StatesError (a bug in the interpreter becomes States.Runtime, never a crash). */
export function asStatesError(e: unknown): StatesError {
  if (e instanceof StatesError) return e;
  return new StatesError(STATES_ERRORS.Runtime, e instanceof Error ? e.message : String(e));
}
