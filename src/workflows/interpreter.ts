/**
 * Runs a compiled state machine. Each state goes through ASL's data flow (InputPath ->
 * Parameters -> the work -> ResultSelector -> ResultPath -> OutputPath); Task, Parallel and Map
 * states retry and catch errors by name. Each state run gets a key (`Name#visit`, prefixed by its
 * branch or item), so a journal can record completed states and a resumed run replays them
 * instead of running them again. The run's deadline and cancellation reach every wait.
 */
import { ms } from '../core/report.js';
import type { Report } from '../core/report.js';
import { evaluateRule } from './choice.js';
import { asStatesError, Cancelled, errorMatches, StatesError, STATES_ERRORS } from './errors.js';
import { jsonBytes, placeResult, retryDelayMs, selectPath } from './io.js';
import { preview, type Json, type JsonObject } from './json.js';
import type {
  Catcher,
  FailState,
  Machine,
  MapState,
  ParallelState,
  PassState,
  State,
  TaskState,
  WaitState,
} from './machine.js';
import { readPath } from './paths.js';
import type { RunReport, StateReport } from './report.js';
import { applyTemplate } from './template.js';
import { runMap, runParallel } from './branches.js';
import { sleep } from './sleep.js';

export interface TaskCall {
  fn: string;
  input: Json;
  /** The input as the request body (JSON). */
  body: Buffer;
  state: string;
  key: string;
  signal: AbortSignal;
}

export type TaskOutcome = { output: Json; report: Report } | { error: StatesError; report?: Report };

/** One completed state as a journal keeps it: its output and where the run went next (null: the end). */
export interface StepRecord {
  k: string;
  o: Json;
  n: string | null;
}

export interface ExecutionHooks {
  invoke(call: TaskCall): Promise<TaskOutcome>;
  /** Resolves once the record is durable; the run goes on only then. */
  completed?(record: StepRecord): Promise<void>;
  /** A Wait state starts waiting until `untilMs` (epoch): journaled, so a resumed run waits only the rest. */
  waitStarted?(key: string, untilMs: number): Promise<void>;
  recall?(key: string): StepRecord | undefined;
  recallWait?(key: string): number | undefined;
}

export interface RunLimits {
  maxMapItems: number;
  maxMapConcurrency: number;
  maxPayloadBytes: number;
  maxStateReports: number;
}

export interface ExecutionOptions {
  workflow: string;
  runId: string;
  node: string;
  machine: Machine;
  input: Json;
  /** Epoch ms the run started (kept across a resume). */
  startedAt: number;
  /** Epoch ms past which the run fails with States.Timeout. */
  deadline: number;
  hooks: ExecutionHooks;
  limits: RunLimits;
  resumed?: boolean;
}

export type RunOutcome =
  { ok: true; output: Json; report: RunReport } | { ok: false; error: StatesError; report: RunReport };

/** Where a state runs: its key prefix, cancellation, and the Map item it works on. */
export interface Scope {
  prefix: string;
  label: string;
  signal: AbortSignal;
  visits: Map<string, number>;
  mapItem?: { Index: number; Value: Json };
}

interface StepResult {
  output: Json;
  next: string | undefined;
}

/** Pass/Choice loops never await: yield to the event loop this often so timers (the deadline) fire. */
const YIELD_EVERY = 256;
/** setTimeout's largest delay; the node's run-time bound is far below it. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class Execution {
  readonly o: ExecutionOptions;
  private readonly states: StateReport[] = [];
  private stateCount = 0;
  private tasksMs = 0;
  private transitions = 0;
  private readonly stop = new AbortController();
  private readonly t0 = performance.now();

  constructor(o: ExecutionOptions) {
    this.o = o;
  }

  /** Cancels the run from outside (node shutdown): it ends with `Cancelled`, never a result. */
  cancel(why: string): void {
    this.stop.abort(new Cancelled(why));
  }

  async run(): Promise<RunOutcome> {
    const remaining = this.o.deadline - Date.now();
    const timer = setTimeout(
      () =>
        this.stop.abort(
          new StatesError(
            STATES_ERRORS.Timeout,
            `the run went past its time limit (${ms((this.o.deadline - this.o.startedAt) / 1000)} s)`,
          ),
        ),
      Math.min(Math.max(0, remaining), MAX_TIMER_MS),
    );
    try {
      const scope: Scope = { prefix: '', label: '', signal: this.stop.signal, visits: new Map() };
      const output = await this.runMachine(this.o.machine, this.o.input, scope);
      this.checkSize(output, 'the run output');
      return { ok: true, output, report: this.snapshot() };
    } catch (e) {
      if (e instanceof Cancelled) throw e;
      const reason: unknown = this.stop.signal.aborted ? this.stop.signal.reason : e;
      if (reason instanceof Cancelled) throw reason;
      const error = asStatesError(reason);
      return { ok: false, error, report: this.snapshot(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  /** The report so far (the whole report once the run ended). */
  snapshot(error?: StatesError): RunReport {
    const totalMs = ms(performance.now() - this.t0);
    return {
      workflow: this.o.workflow,
      run: this.o.runId,
      node: this.o.node,
      startedAt: new Date(this.o.startedAt).toISOString(),
      totalMs,
      tasksMs: ms(this.tasksMs),
      overheadMs: ms(Math.max(0, totalMs - this.tasksMs)),
      stateCount: this.stateCount,
      states: this.states,
      statesOmitted: this.stateCount - this.states.length,
      ...(error ? { error: error.error, cause: error.cause } : {}),
      ...(this.o.resumed ? { resumed: true } : {}),
    };
  }

  private record(entry: StateReport): void {
    this.stateCount++;
    if (this.states.length < this.o.limits.maxStateReports) this.states.push(entry);
  }

  private since(): number {
    return ms(performance.now() - this.t0);
  }

  context(state: string, scope: Scope, retryCount = 0): JsonObject {
    return {
      Execution: {
        Id: this.o.runId,
        Name: this.o.runId,
        Input: this.o.input,
        StartTime: new Date(this.o.startedAt).toISOString(),
      },
      StateMachine: { Id: this.o.workflow, Name: this.o.workflow },
      State: { Name: state, EnteredTime: new Date().toISOString(), RetryCount: retryCount },
      ...(scope.mapItem ? { Map: { Item: scope.mapItem } } : {}),
    };
  }

  async runMachine(machine: Machine, input: Json, scope: Scope): Promise<Json> {
    let name = machine.startAt;
    let data = input;
    for (;;) {
      await this.checkpoint(scope.signal);
      const state = machine.states.get(name)!;
      const visit = (scope.visits.get(name) ?? 0) + 1;
      scope.visits.set(name, visit);
      const key = `${scope.prefix}${name}#${visit}`;
      const step = await this.runStep(state, data, key, scope);
      if (step.next === undefined) return step.output;
      data = step.output;
      name = step.next;
    }
  }

  private async checkpoint(signal: AbortSignal): Promise<void> {
    if (++this.transitions % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
    if (signal.aborted) throw signal.reason;
    if (Date.now() > this.o.deadline)
      this.stop.abort(new StatesError(STATES_ERRORS.Timeout, 'the run went past its time limit'));
    if (signal.aborted) throw signal.reason;
  }

  private async runStep(state: State, data: Json, key: string, scope: Scope): Promise<StepResult> {
    const recalled = this.o.hooks.recall?.(key);
    const label = `${scope.label}${state.name}`;
    if (recalled) {
      this.record({
        name: label,
        type: state.type,
        startMs: this.since(),
        ms: 0,
        status: 'replayed',
        ...(recalled.n ? { next: recalled.n } : {}),
      });
      return { output: recalled.o, next: recalled.n ?? undefined };
    }
    const startMs = this.since();
    const entry: StateReport = { name: label, type: state.type, startMs, ms: 0, status: 'succeeded' };
    try {
      const step = await this.dispatch(state, data, key, scope, entry);
      entry.ms = ms(this.since() - startMs);
      if (step.next !== undefined) entry.next = step.next;
      this.record(entry);
      await this.o.hooks.completed?.({ k: key, o: step.output, n: step.next ?? null });
      return step;
    } catch (e) {
      const err = scope.signal.aborted ? scope.signal.reason : e;
      if (!(err instanceof Cancelled)) {
        const se = asStatesError(err);
        this.record({ ...entry, ms: ms(this.since() - startMs), status: 'failed', error: se.error, cause: se.cause });
      }
      throw err;
    }
  }

  private dispatch(
    state: State,
    data: Json,
    key: string,
    scope: Scope,
    entry: StateReport,
  ): Promise<StepResult> | StepResult {
    switch (state.type) {
      case 'Task':
        return this.handled(state, data, scope, entry, (input, attempt) =>
          this.task(state, input, key, scope, entry, attempt),
        );
      case 'Parallel':
        return this.handled(state, data, scope, entry, (input, attempt) =>
          runParallel(this, state, input, key, attempt, scope),
        );
      case 'Map':
        return this.handled(state, data, scope, entry, (input, attempt) =>
          runMap(this, state, input, key, attempt, scope),
        );
      case 'Pass':
        return this.pass(state, data, scope);
      case 'Choice':
        return this.choice(state, data, scope);
      case 'Wait':
        return this.wait(state, data, key, scope);
      case 'Succeed':
        return {
          output: selectPath(
            state.outputPath,
            'OutputPath',
            selectPath(state.inputPath, 'InputPath', data, this.context(state.name, scope)),
            this.context(state.name, scope),
          ),
          next: undefined,
        };
      case 'Fail':
        throw this.failure(state, data, scope);
    }
  }

  /**
   * Task, Parallel and Map: the data flow around `work`, retried under Retry, caught under Catch.
   * `work` gets the effective input (after InputPath and Parameters) and the attempt number.
   */
  private async handled(
    state: TaskState | ParallelState | MapState,
    raw: Json,
    scope: Scope,
    entry: StateReport,
    work: (input: Json, attempt: number) => Promise<Json>,
  ): Promise<StepResult> {
    const counts = state.retry.map(() => 0);
    for (let attempt = 0; ; attempt++) {
      try {
        const context = this.context(state.name, scope, attempt);
        const effective = selectPath(state.inputPath, 'InputPath', raw, context);
        const input =
          state.type !== 'Map' && state.parameters ? applyTemplate(state.parameters, effective, context) : effective;
        let result = await work(input, attempt);
        if (state.resultSelector) result = applyTemplate(state.resultSelector, result, context);
        const output = selectPath(state.outputPath, 'OutputPath', placeResult(state.resultPath, raw, result), context);
        return { output, next: state.next };
      } catch (e) {
        if (e instanceof Cancelled || scope.signal.aborted) throw scope.signal.aborted ? scope.signal.reason : e;
        const err = asStatesError(e);
        const r = state.retry.findIndex((retrier) => errorMatches(retrier.errorEquals, err));
        const retrier = state.retry[r];
        if (retrier !== undefined && counts[r]! < retrier.maxAttempts) {
          await sleep(retryDelayMs(retrier, counts[r]!), scope.signal);
          counts[r]!++;
          entry.retries = (entry.retries ?? 0) + 1;
          continue;
        }
        const catcher = state.catch.find((c) => errorMatches(c.errorEquals, err));
        if (catcher === undefined) throw err;
        return this.caught(catcher, raw, err, entry);
      }
    }
  }

  private caught(catcher: Catcher, raw: Json, err: StatesError, entry: StateReport): StepResult {
    entry.status = 'caught';
    entry.error = err.error;
    entry.cause = err.cause;
    return { output: placeResult(catcher.resultPath, raw, err.toJson()), next: catcher.next };
  }

  private async task(
    state: TaskState,
    input: Json,
    key: string,
    scope: Scope,
    entry: StateReport,
    attempt: number,
  ): Promise<Json> {
    const body = Buffer.from(JSON.stringify(input) ?? 'null');
    if (body.length > this.o.limits.maxPayloadBytes)
      throw new StatesError(
        STATES_ERRORS.DataLimitExceeded,
        `the input of Task "${state.name}" is ${body.length} bytes, over the node's ${this.o.limits.maxPayloadBytes}-byte limit for a payload`,
      );
    const timeoutMs = this.taskTimeoutMs(state, input, scope);
    const call = new AbortController();
    const onAbort = () => call.abort(scope.signal.reason);
    scope.signal.addEventListener('abort', onAbort, { once: true });
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () =>
              call.abort(
                new StatesError(
                  STATES_ERRORS.Timeout,
                  `Task "${state.name}" ran past its TimeoutSeconds (${timeoutMs / 1000} s)`,
                ),
              ),
            timeoutMs,
          );
    entry.function = state.resource;
    try {
      const outcome = await raceAbort(
        this.o.hooks.invoke({
          fn: state.resource,
          input,
          body,
          state: state.name,
          key: `${key}.${attempt}`,
          signal: call.signal,
        }),
        call.signal,
      );
      if (outcome.report) {
        entry.call = outcome.report;
        this.tasksMs += outcome.report.totalMs;
      }
      if ('error' in outcome) throw outcome.error;
      return outcome.output;
    } finally {
      if (timer) clearTimeout(timer);
      scope.signal.removeEventListener('abort', onAbort);
    }
  }

  private taskTimeoutMs(state: TaskState, input: Json, scope: Scope): number | undefined {
    if (state.timeoutSeconds !== undefined) return state.timeoutSeconds * 1000;
    if (state.timeoutSecondsPath === undefined) return undefined;
    const v = readPath(state.timeoutSecondsPath, input, this.context(state.name, scope));
    if (!v.found || typeof v.value !== 'number' || !(v.value > 0))
      throw new StatesError(
        STATES_ERRORS.Runtime,
        `TimeoutSecondsPath "${state.timeoutSecondsPath.text}" must select a positive number, got ${v.found ? preview(v.value) : 'nothing'}`,
      );
    return v.value * 1000;
  }

  private pass(state: PassState, raw: Json, scope: Scope): StepResult {
    const context = this.context(state.name, scope);
    const effective = selectPath(state.inputPath, 'InputPath', raw, context);
    const result =
      state.result !== undefined
        ? state.result
        : state.parameters
          ? applyTemplate(state.parameters, effective, context)
          : effective;
    return {
      output: selectPath(state.outputPath, 'OutputPath', placeResult(state.resultPath, raw, result), context),
      next: state.next,
    };
  }

  private choice(state: Extract<State, { type: 'Choice' }>, raw: Json, scope: Scope): StepResult {
    const context = this.context(state.name, scope);
    const effective = selectPath(state.inputPath, 'InputPath', raw, context);
    const chosen = state.choices.find((c) => evaluateRule(c.rule, effective, context));
    const next = chosen?.next ?? state.default;
    if (next === undefined)
      throw new StatesError(
        STATES_ERRORS.NoChoiceMatched,
        `Choice "${state.name}": no rule matched the input and there is no Default`,
      );
    return { output: selectPath(state.outputPath, 'OutputPath', effective, context), next };
  }

  private async wait(state: WaitState, raw: Json, key: string, scope: Scope): Promise<StepResult> {
    const context = this.context(state.name, scope);
    const effective = selectPath(state.inputPath, 'InputPath', raw, context);
    let until = this.o.hooks.recallWait?.(key);
    if (until === undefined) {
      until = waitUntil(state, effective, context);
      await this.o.hooks.waitStarted?.(key, until);
    }
    await sleep(until - Date.now(), scope.signal);
    return { output: selectPath(state.outputPath, 'OutputPath', effective, context), next: state.next };
  }

  private failure(state: FailState, raw: Json, scope: Scope): StatesError {
    const context = this.context(state.name, scope);
    const pick = (path: FailState['errorPath'], fixed: string | undefined): string | undefined => {
      if (path === undefined) return fixed;
      const v = readPath(path, raw, context);
      return v.found ? (typeof v.value === 'string' ? v.value : JSON.stringify(v.value)) : undefined;
    };
    return new StatesError(
      pick(state.errorPath, state.error) ?? 'States.Fail',
      pick(state.causePath, state.cause) ?? `the run reached Fail state "${state.name}"`,
    );
  }

  /** Payloads between states stay under the node's bound (checked where they can grow: Task output, Map/Parallel results). */
  checkSize(value: Json, what: string): void {
    const bytes = jsonBytes(value);
    if (bytes > this.o.limits.maxPayloadBytes)
      throw new StatesError(
        STATES_ERRORS.DataLimitExceeded,
        `${what} is ${bytes} bytes, over the node's ${this.o.limits.maxPayloadBytes}-byte limit for a payload`,
      );
  }
}

function waitUntil(state: WaitState, input: Json, context: Json): number {
  const w = state.wait;
  if (w.kind === 'seconds') return Date.now() + w.seconds * 1000;
  if (w.kind === 'timestamp') return Date.parse(w.at);
  const v = readPath(w.path, input, context);
  if (w.kind === 'secondsPath') {
    if (!v.found || typeof v.value !== 'number' || v.value < 0)
      throw new StatesError(
        STATES_ERRORS.Runtime,
        `SecondsPath "${w.path.text}" must select a number of seconds >= 0, got ${v.found ? preview(v.value) : 'nothing'}`,
      );
    return Date.now() + v.value * 1000;
  }
  const at = v.found && typeof v.value === 'string' ? Date.parse(v.value) : NaN;
  if (Number.isNaN(at))
    throw new StatesError(
      STATES_ERRORS.Runtime,
      `TimestampPath "${w.path.text}" must select an RFC 3339 time, got ${v.found ? preview(v.value) : 'nothing'}`,
    );
  return at;
}

/** `work`, or the signal's reason as soon as it aborts (the work is left to finish unobserved). */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}
