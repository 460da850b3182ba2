/** A state machine as the interpreter runs it: the ASL document parsed, checked and compiled. */
import type { Rule } from './choice.js';
import type { Json } from './json.js';
import type { Path } from './paths.js';
import type { Template } from './template.js';

/** InputPath / OutputPath: absent means "$" (all of it), null means {} (nothing). */
export type DataPath = Path | null | undefined;

export type ResultPath = { kind: 'replace' } | { kind: 'discard' } | { kind: 'path'; path: Path };

export interface Retrier {
  errorEquals: readonly string[];
  intervalSeconds: number;
  maxAttempts: number;
  backoffRate: number;
  maxDelaySeconds: number | undefined;
  jitter: 'FULL' | 'NONE';
}

export interface Catcher {
  errorEquals: readonly string[];
  next: string;
  resultPath: ResultPath;
}

interface Base {
  name: string;
  inputPath: DataPath;
  outputPath: DataPath;
  /** Absent for End, Choice, Succeed and Fail. */
  next: string | undefined;
}

interface Handled {
  retry: readonly Retrier[];
  catch: readonly Catcher[];
  resultSelector: Template | undefined;
  resultPath: ResultPath;
}

export interface TaskState extends Base, Handled {
  type: 'Task';
  resource: string;
  parameters: Template | undefined;
  timeoutSeconds: number | undefined;
  timeoutSecondsPath: Path | undefined;
}

export interface PassState extends Base {
  type: 'Pass';
  result: Json | undefined;
  parameters: Template | undefined;
  resultPath: ResultPath;
}

export interface ChoiceState extends Base {
  type: 'Choice';
  choices: readonly { rule: Rule; next: string }[];
  default: string | undefined;
}

export interface WaitState extends Base {
  type: 'Wait';
  wait:
    | { kind: 'seconds'; seconds: number }
    | { kind: 'timestamp'; at: string }
    | { kind: 'secondsPath'; path: Path }
    | { kind: 'timestampPath'; path: Path };
}

export interface SucceedState extends Base {
  type: 'Succeed';
}

export interface FailState extends Base {
  type: 'Fail';
  error: string | undefined;
  cause: string | undefined;
  errorPath: Path | undefined;
  causePath: Path | undefined;
}

export interface ParallelState extends Base, Handled {
  type: 'Parallel';
  branches: readonly Machine[];
  parameters: Template | undefined;
}

export interface MapState extends Base, Handled {
  type: 'Map';
  itemsPath: Path | undefined;
  itemSelector: Template | undefined;
  maxConcurrency: number;
  processor: Machine;
}

export type State =
  TaskState | PassState | ChoiceState | WaitState | SucceedState | FailState | ParallelState | MapState;
export type StateType = State['type'];
export const STATE_TYPES: readonly StateType[] = [
  'Task',
  'Pass',
  'Choice',
  'Wait',
  'Succeed',
  'Fail',
  'Parallel',
  'Map',
];

export interface Machine {
  startAt: string;
  states: ReadonlyMap<string, State>;
  timeoutSeconds: number | undefined;
}

/** Every state of a machine and its nested branches and processors, with where it sits. */
export function* allStates(machine: Machine, where = ''): Generator<{ state: State; where: string }> {
  for (const state of machine.states.values()) {
    yield { state, where };
    if (state.type === 'Parallel') {
      for (const [i, b] of state.branches.entries()) yield* allStates(b, `${where}${state.name}.Branches[${i}] > `);
    } else if (state.type === 'Map') {
      yield* allStates(state.processor, `${where}${state.name}.ItemProcessor > `);
    }
  }
}
