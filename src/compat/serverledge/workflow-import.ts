/**
 * POST /workflow/import takes a workflow in Serverledge's own JSON (internal/workflow/workflow.go
 * MarshalJSON: {Name, Start, End, Tasks}, each task {Id, Type, …}; conditions from
 * internal/workflow/conditions.go). Tern runs ASL only, so the task graph is translated to an ASL
 * document: FunctionTask -> Task, ChoiceTask -> Choice, PassTask -> Pass, SuccessTask -> Succeed,
 * Fail -> Fail, the EndTask -> a Succeed state. A condition with no ASL counterpart (IsEmpty) is
 * refused with a 400 naming it.
 */
import { TernError } from '../../core/errors.js';
import { isObject, type Json, type JsonObject } from '../../workflows/json.js';

interface Condition {
  Type?: string;
  Find?: boolean[];
  Op?: Json[];
  Sub?: Condition[];
}

type Rule = JsonObject | 'always' | 'never';

const RELATIONS: Record<string, string> = { Eq: 'Equals', Greater: 'GreaterThan', Smaller: 'LessThan' };
const FLIPPED: Record<string, string> = { Equals: 'Equals', GreaterThan: 'LessThan', LessThan: 'GreaterThan' };
const TESTS = new Set(['IsNull', 'IsPresent', 'IsNumeric', 'IsString', 'IsBoolean', 'IsTimestamp']);

function bad(why: string): never {
  throw new TernError('bad_request', `workflow: ${why}`);
}

const paramPath = (name: Json | undefined): string => `$['${String(name).replace(/['\\]/g, '\\$&')}']`;

function kindOf(v: Json | undefined): string {
  if (typeof v === 'number') return 'Numeric';
  if (typeof v === 'boolean') return 'Boolean';
  if (typeof v === 'string') return 'String';
  return bad(`a condition compares ${JSON.stringify(v)}: only numbers, strings and booleans have ASL comparisons`);
}

function compare(c: Condition, relation: string): Rule {
  const [a, b] = c.Op ?? [];
  const [fa, fb] = c.Find ?? [];
  if (fa && fb) {
    return {
      Or: ['Numeric', 'String', 'Boolean']
        .filter((k) => k !== 'Boolean' || relation === 'Equals')
        .map((k) => ({ Variable: paramPath(a), [`${k}${relation}Path`]: paramPath(b) })),
    };
  }
  if (fa) return { Variable: paramPath(a), [`${kindOf(b)}${relation}`]: b! };
  if (fb) return { Variable: paramPath(b), [`${kindOf(a)}${FLIPPED[relation]!}`]: a! };
  const x = a as number | string;
  const y = b as number | string;
  return (relation === 'Equals' ? x === y : relation === 'GreaterThan' ? x > y : x < y) ? 'always' : 'never';
}

function convert(c: Condition, where: string): Rule {
  const type = c.Type ?? '';
  if (type === 'Const') return c.Op?.[0] === true ? 'always' : 'never';
  if (type === 'And' || type === 'Or') {
    const subs = (c.Sub ?? []).map((s, i) => convert(s, `${where}.Sub[${i}]`));
    const absorbing = type === 'And' ? 'never' : 'always';
    if (subs.includes(absorbing)) return absorbing;
    const rest = subs.filter((s): s is JsonObject => typeof s === 'object');
    if (rest.length === 0) return type === 'And' ? 'always' : 'never';
    return rest.length === 1 ? rest[0]! : { [type]: rest };
  }
  if (type === 'Not') {
    const inner = convert(c.Sub?.[0] ?? bad(`${where}: Not without a condition`), `${where}.Sub[0]`);
    return inner === 'always' ? 'never' : inner === 'never' ? 'always' : { Not: inner };
  }
  if (type === 'Diff') {
    const eq = compare(c, 'Equals');
    return eq === 'always' ? 'never' : eq === 'never' ? 'always' : { Not: eq };
  }
  if (RELATIONS[type] !== undefined) return compare(c, RELATIONS[type]);
  if (TESTS.has(type)) return { Variable: paramPath(c.Op?.[0]), [type]: true };
  if (type === 'StringMatches') return { Variable: paramPath(c.Op?.[0]), StringMatches: String(c.Op?.[1] ?? '') };
  return bad(`${where}: condition type "${type}" has no ASL equivalent`);
}

function choiceState(task: JsonObject, id: string, next: (t: Json | undefined) => string): JsonObject {
  const conditions = (Array.isArray(task.Conditions) ? task.Conditions : []) as unknown as Condition[];
  const targets = Array.isArray(task.AlternativeNextTasks) ? task.AlternativeNextTasks : [];
  if (conditions.length !== targets.length)
    bad(`task "${id}": ${conditions.length} conditions for ${targets.length} alternatives`);
  const choices: JsonObject[] = [];
  for (const [i, c] of conditions.entries()) {
    const rule = convert(c, `task "${id}" condition ${i}`);
    if (rule === 'never') continue;
    if (rule === 'always')
      return { Type: 'Choice', Choices: choices.length ? choices : [neverRule()], Default: next(targets[i]) };
    choices.push({ ...rule, Next: next(targets[i]) });
  }
  if (choices.length === 0) bad(`task "${id}": no condition can ever hold`);
  return { Type: 'Choice', Choices: choices };
}

/** A rule that never holds, for a Choice whose first condition is always true (all goes to Default). */
function neverRule(): JsonObject {
  return { Variable: '$', IsPresent: false, Next: '' };
}

/** Serverledge's workflow JSON as an ASL document (text); 400 on what cannot be translated. */
export function serverledgeToAsl(raw: Json): { name: string; asl: string } {
  if (!isObject(raw)) bad('the body must be a JSON object');
  const name = typeof raw.Name === 'string' ? raw.Name : bad('Name is missing');
  const start = isObject(raw.Start) ? raw.Start : bad('Start is missing');
  const end = isObject(raw.End) ? raw.End : bad('End is missing');
  const tasks = isObject(raw.Tasks) ? raw.Tasks : bad('Tasks is missing');
  const endId = String(end.Id ?? 'End');
  let endUsed = false;
  const next = (t: Json | undefined): string => {
    const id = String(t ?? '');
    if (id === '' || id === endId) {
      endUsed = true;
      return endId;
    }
    if (!isObject(tasks[id])) bad(`a task goes to "${id}", which is not in Tasks`);
    return id;
  };
  const states: JsonObject = {};
  for (const [id, task] of Object.entries(tasks)) {
    if (!isObject(task)) bad(`task "${id}" must be an object`);
    const type = String(task.Type ?? '');
    if (type === 'StartTask' || type === 'EndTask') continue;
    if (type === 'FunctionTask')
      states[id] = { Type: 'Task', Resource: String(task.Func ?? ''), Next: next(task.NextTask) };
    else if (type === 'ChoiceTask') states[id] = choiceState(task, id, next);
    else if (type === 'PassTask')
      states[id] = {
        Type: 'Pass',
        ...(task.ResultPath ? { ResultPath: task.ResultPath } : {}),
        Next: next(task.NextTask),
      };
    else if (type === 'SuccessTask') states[id] = { Type: 'Succeed' };
    else if (type === 'Fail')
      states[id] = { Type: 'Fail', Error: String(task.Error ?? 'Fail'), Cause: String(task.Cause ?? '') };
    else bad(`task "${id}": type "${type}" is not supported`);
  }
  const startAt = next(start.NextTask);
  if (endUsed) states[endId] = { Type: 'Succeed' };
  for (const state of Object.values(states)) {
    const choices = isObject(state) && Array.isArray(state.Choices) ? state.Choices : [];
    for (const c of choices) if (isObject(c) && c.Next === '') c.Next = String((state as JsonObject).Default);
  }
  return {
    name,
    asl: JSON.stringify({ Comment: `imported from Serverledge workflow ${name}`, StartAt: startAt, States: states }),
  };
}
