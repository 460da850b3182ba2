/**
 * Parses and checks an ASL document (the Amazon States Language of AWS Step Functions) into a
 * Machine. Every problem is an AslError whose message names the state and the reason: the API
 * answers it as a 400. What is checked: the JSON, the fields of each state type (unknown fields
 * too), paths, templates and choice rules, StartAt and every transition target, that each state
 * is reachable and can reach an end, and the bounds (number of states).
 */
import { compileRule } from './choice.js';
import { STATES_ERRORS } from './errors.js';
import { AslError, Fields } from './fields.js';
import { checkGraph } from './graph.js';
import { isObject, typeName, type Json } from './json.js';
import {
  STATE_TYPES,
  type Catcher,
  type ChoiceState,
  type FailState,
  type Machine,
  type MapState,
  type ParallelState,
  type PassState,
  type Retrier,
  type State,
  type StateType,
  type TaskState,
  type WaitState,
} from './machine.js';
import { NAME_PATTERN } from '../registry/spec.js';
import { isTimestamp } from './choice.js';

export { AslError } from './fields.js';

export interface AslLimits {
  /** States in the whole document, nested branches and processors included. */
  maxStates: number;
}

const MAX_NAME = 80;
const MAX_RETRY_SECONDS = 99_999_999;
const COMMON = ['Type', 'Comment', 'InputPath', 'OutputPath'];
const FLOW = ['Next', 'End'];
const HANDLED = ['ResultSelector', 'ResultPath', 'Retry', 'Catch'];

const FIELDS: Record<StateType, readonly string[]> = {
  Task: [...COMMON, ...FLOW, ...HANDLED, 'Resource', 'Parameters', 'TimeoutSeconds', 'TimeoutSecondsPath'],
  Pass: [...COMMON, ...FLOW, 'Result', 'ResultPath', 'Parameters'],
  Choice: [...COMMON, 'Choices', 'Default'],
  Wait: [...COMMON, ...FLOW, 'Seconds', 'Timestamp', 'SecondsPath', 'TimestampPath'],
  Succeed: COMMON,
  Fail: ['Type', 'Comment', 'Error', 'Cause', 'ErrorPath', 'CausePath'],
  Parallel: [...COMMON, ...FLOW, ...HANDLED, 'Branches', 'Parameters'],
  Map: [
    ...COMMON,
    ...FLOW,
    ...HANDLED,
    'ItemsPath',
    'ItemSelector',
    'Parameters',
    'MaxConcurrency',
    'Iterator',
    'ItemProcessor',
  ],
};

/** Parses `text` (the document) into a Machine. */
export function parseAsl(text: string, limits: AslLimits): Machine {
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch (e) {
    throw new AslError(`the definition is not JSON: ${(e as Error).message}`, '');
  }
  if (!isObject(doc)) throw new AslError(`the definition must be a JSON object, got ${typeName(doc)}`, '');
  const counter = { states: 0, max: limits.maxStates };
  const machine = parseMachine(new Fields(doc, 'the definition', ''), '', counter, true);
  return machine;
}

interface Counter {
  states: number;
  max: number;
}

function parseMachine(f: Fields, prefix: string, counter: Counter, top: boolean): Machine {
  f.only(
    [
      'StartAt',
      'States',
      'Comment',
      'Version',
      ...(top ? ['TimeoutSeconds'] : []),
      ...(top ? [] : ['ProcessorConfig']),
    ],
    top ? 'a state machine' : 'a branch',
  );
  const startAt = f.string('StartAt');
  if (startAt === undefined || startAt === '') f.fail('StartAt is missing: it names the first state');
  const rawStates = f.object('States');
  if (rawStates === undefined || Object.keys(rawStates).length === 0) f.fail('States is missing or empty');
  const states = new Map<string, State>();
  for (const [name, raw] of Object.entries(rawStates)) {
    counter.states++;
    if (counter.states > counter.max)
      throw new AslError(
        `the definition has more than ${counter.max} states (the node's limit, [workflows] max-states)`,
        name,
      );
    const where = `state "${prefix}${name}"`;
    if (name.length === 0 || name.length > MAX_NAME)
      throw new AslError(`${where}: a state name is 1-${MAX_NAME} characters`, name);
    if (!isObject(raw)) throw new AslError(`${where}: must be an object, got ${typeName(raw)}`, name);
    states.set(name, parseState(new Fields(raw, where, name), name, prefix, counter));
  }
  if (!states.has(startAt)) f.fail(`StartAt "${startAt}" names no state (states: ${[...states.keys()].join(', ')})`);
  const timeoutSeconds = top ? f.number('TimeoutSeconds', { min: 0.001, max: MAX_RETRY_SECONDS }) : undefined;
  const machine: Machine = { startAt, states, timeoutSeconds };
  checkGraph(machine, prefix);
  return machine;
}

function parseState(f: Fields, name: string, prefix: string, counter: Counter): State {
  const type = f.requiredString('Type');
  if (!(STATE_TYPES as readonly string[]).includes(type))
    f.fail(`Type "${type}" is not a state type (${STATE_TYPES.join(', ')})`);
  f.only(FIELDS[type as StateType], `a ${type} state`);
  const base = {
    name,
    inputPath: f.dataPath('InputPath'),
    outputPath: f.dataPath('OutputPath'),
    next: flow(f, type as StateType),
  };
  switch (type as StateType) {
    case 'Task':
      return task(f, base);
    case 'Pass':
      return pass(f, base);
    case 'Choice':
      return choice(f, base);
    case 'Wait':
      return wait(f, base);
    case 'Succeed':
      return { ...base, type: 'Succeed' };
    case 'Fail':
      return fail(f, base);
    case 'Parallel':
      return parallel(f, base, prefix, counter);
    case 'Map':
      return map(f, base, prefix, counter);
  }
}

/** Next or End: exactly one on the states that go on; neither on Choice, Succeed, Fail. */
function flow(f: Fields, type: StateType): string | undefined {
  if (type === 'Choice' || type === 'Succeed' || type === 'Fail') return undefined;
  const next = f.string('Next');
  const end = f.boolean('End');
  if (next !== undefined && end === true) f.fail('has both Next and "End": true; a state either goes on or ends');
  if (next === undefined && end !== true) f.fail('has neither Next nor "End": true');
  return next;
}

type BaseState = Pick<State, 'name' | 'inputPath' | 'outputPath' | 'next'>;

function task(f: Fields, base: BaseState): TaskState {
  const resource = f.requiredString('Resource');
  if (!NAME_PATTERN.test(resource))
    f.fail(`Resource "${resource}" is not a Tern function name (1-63 characters of a-z, 0-9 and "-")`);
  if (f.has('TimeoutSeconds') && f.has('TimeoutSecondsPath')) f.fail('has both TimeoutSeconds and TimeoutSecondsPath');
  return {
    ...base,
    type: 'Task',
    resource,
    parameters: f.template('Parameters'),
    timeoutSeconds: f.number('TimeoutSeconds', { min: 0.001, max: MAX_RETRY_SECONDS }),
    timeoutSecondsPath: f.path('TimeoutSecondsPath', { reference: true }),
    ...handled(f),
  };
}

function handled(f: Fields): Pick<TaskState, 'retry' | 'catch' | 'resultSelector' | 'resultPath'> {
  return {
    retry: retriers(f),
    catch: catchers(f),
    resultSelector: f.template('ResultSelector'),
    resultPath: f.resultPath(),
  };
}

function errorEquals(f: Fields, last: boolean): string[] {
  const list = f.array('ErrorEquals');
  if (list === undefined || list.length === 0) f.fail('ErrorEquals must be a non-empty array of error names');
  const names = list.map((v, i) => {
    if (typeof v !== 'string' || v === '') f.fail(`ErrorEquals[${i}] must be an error name`);
    return v;
  });
  if (names.includes(STATES_ERRORS.ALL) && (names.length > 1 || !last))
    f.fail('"States.ALL" must be alone in its ErrorEquals and in the last retrier or catcher');
  return names;
}

function retriers(f: Fields): Retrier[] {
  const list = f.array('Retry') ?? [];
  return list.map((raw, i) => {
    const r = f.child(raw, `Retry[${i}]`);
    r.only(
      ['ErrorEquals', 'IntervalSeconds', 'MaxAttempts', 'BackoffRate', 'MaxDelaySeconds', 'JitterStrategy', 'Comment'],
      'a retrier',
    );
    const jitter = r.string('JitterStrategy') ?? 'NONE';
    if (jitter !== 'FULL' && jitter !== 'NONE') return r.fail('JitterStrategy must be "FULL" or "NONE"');
    return {
      errorEquals: errorEquals(r, i === list.length - 1),
      intervalSeconds: r.number('IntervalSeconds', { min: 0.001, max: MAX_RETRY_SECONDS }) ?? 1,
      maxAttempts: r.number('MaxAttempts', { min: 0, max: 99_999_999, integer: true }) ?? 3,
      backoffRate: r.number('BackoffRate', { min: 1 }) ?? 2,
      maxDelaySeconds: r.number('MaxDelaySeconds', { min: 0.001, max: MAX_RETRY_SECONDS }),
      jitter,
    };
  });
}

function catchers(f: Fields): Catcher[] {
  const list = f.array('Catch') ?? [];
  return list.map((raw, i) => {
    const c = f.child(raw, `Catch[${i}]`);
    c.only(['ErrorEquals', 'Next', 'ResultPath', 'Comment'], 'a catcher');
    return {
      errorEquals: errorEquals(c, i === list.length - 1),
      next: c.requiredString('Next'),
      resultPath: c.resultPath(),
    };
  });
}

function pass(f: Fields, base: BaseState): PassState {
  return {
    ...base,
    type: 'Pass',
    result: f.raw.Result,
    parameters: f.template('Parameters'),
    resultPath: f.resultPath(),
  };
}

function choice(f: Fields, base: BaseState): ChoiceState {
  const list = f.array('Choices');
  if (list === undefined || list.length === 0) f.fail('Choices must be a non-empty array of rules');
  const choices = list.map((raw, i) => {
    const where = `Choices[${i}]`;
    const c = f.child(raw, where);
    const next = c.requiredString('Next');
    try {
      return { rule: compileRule(raw, where, true), next };
    } catch (e) {
      return f.fail((e as Error).message);
    }
  });
  return { ...base, type: 'Choice', choices, default: f.string('Default') };
}

function wait(f: Fields, base: BaseState): WaitState {
  const given = ['Seconds', 'Timestamp', 'SecondsPath', 'TimestampPath'].filter((k) => f.has(k));
  if (given.length !== 1)
    f.fail(
      `needs exactly one of Seconds, Timestamp, SecondsPath, TimestampPath${given.length ? ` (has ${given.join(', ')})` : ''}`,
    );
  const w: WaitState['wait'] = f.has('Seconds')
    ? { kind: 'seconds', seconds: f.number('Seconds', { min: 0, max: MAX_RETRY_SECONDS })! }
    : f.has('Timestamp')
      ? { kind: 'timestamp', at: timestamp(f) }
      : f.has('SecondsPath')
        ? { kind: 'secondsPath', path: f.path('SecondsPath', { reference: true })! }
        : { kind: 'timestampPath', path: f.path('TimestampPath', { reference: true })! };
  return { ...base, type: 'Wait', wait: w };
}

function timestamp(f: Fields): string {
  const at = f.requiredString('Timestamp');
  if (!isTimestamp(at)) f.fail(`Timestamp "${at}" is not an RFC 3339 time such as "2026-01-01T00:00:00Z"`);
  return at;
}

function fail(f: Fields, base: BaseState): FailState {
  if (f.has('Error') && f.has('ErrorPath')) f.fail('has both Error and ErrorPath');
  if (f.has('Cause') && f.has('CausePath')) f.fail('has both Cause and CausePath');
  return {
    ...base,
    type: 'Fail',
    error: f.string('Error'),
    cause: f.string('Cause'),
    errorPath: f.path('ErrorPath', { reference: true }),
    causePath: f.path('CausePath', { reference: true }),
  };
}

function parallel(f: Fields, base: BaseState, prefix: string, counter: Counter): ParallelState {
  const list = f.array('Branches');
  if (list === undefined || list.length === 0) f.fail('Branches must be a non-empty array of state machines');
  const branches = list.map((raw, i) =>
    parseMachine(f.child(raw, `Branches[${i}]`), `${prefix}${base.name}.Branches[${i}] > `, counter, false),
  );
  return { ...base, type: 'Parallel', branches, parameters: f.template('Parameters'), ...handled(f) };
}

function map(f: Fields, base: BaseState, prefix: string, counter: Counter): MapState {
  if (f.has('Iterator') === f.has('ItemProcessor')) f.fail('needs exactly one of ItemProcessor and Iterator');
  if (f.has('ItemSelector') && f.has('Parameters')) f.fail('has both ItemSelector and Parameters (its older name)');
  const key = f.has('ItemProcessor') ? 'ItemProcessor' : 'Iterator';
  const processor = parseMachine(f.child(f.raw[key]!, key), `${prefix}${base.name}.${key} > `, counter, false);
  return {
    ...base,
    type: 'Map',
    itemsPath: f.path('ItemsPath', { reference: true }),
    itemSelector: f.template(f.has('ItemSelector') ? 'ItemSelector' : 'Parameters'),
    maxConcurrency: f.number('MaxConcurrency', { min: 0, max: 10_000, integer: true }) ?? 0,
    processor,
    ...handled(f),
  };
}
