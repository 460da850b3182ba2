/**
 * Choice rules: compiled at deploy (one operator per rule, paths parsed, StringMatches patterns
 * turned into regular expressions), evaluated per run. A comparison of values of another type is
 * false. A comparison whose Variable selects nothing is a States.Runtime error; the type tests
 * (IsNull, IsString, …) are false there, and IsPresent tells.
 */
import { StatesError, STATES_ERRORS } from './errors.js';
import { isObject, type Json } from './json.js';
import { parsePath, readPath, type Path } from './paths.js';

type Kind = 'String' | 'Numeric' | 'Boolean' | 'Timestamp';
type Relation = 'Equals' | 'LessThan' | 'GreaterThan' | 'LessThanEquals' | 'GreaterThanEquals';
const RELATIONS: readonly Relation[] = ['Equals', 'LessThan', 'GreaterThan', 'LessThanEquals', 'GreaterThanEquals'];
const KINDS: readonly Kind[] = ['String', 'Numeric', 'Boolean', 'Timestamp'];
const TESTS = ['IsNull', 'IsPresent', 'IsNumeric', 'IsString', 'IsBoolean', 'IsTimestamp'] as const;
type Test = (typeof TESTS)[number];

export type Rule =
  | { op: 'And' | 'Or'; rules: readonly Rule[] }
  | { op: 'Not'; rule: Rule }
  | {
      op: 'compare';
      name: string;
      variable: Path;
      kind: Kind;
      relation: Relation;
      operand: Json | Path;
      isPath: boolean;
    }
  | { op: 'match'; variable: Path; pattern: RegExp }
  | { op: 'test'; name: Test; variable: Path; expected: boolean };

/** Every comparison operator ASL defines, with its *Path variant. */
interface Comparison {
  kind: Kind;
  relation: Relation;
  isPath: boolean;
}
export const COMPARISONS: ReadonlyMap<string, Comparison> = new Map(
  KINDS.flatMap((kind) =>
    RELATIONS.filter((r) => kind !== 'Boolean' || r === 'Equals').flatMap((relation): [string, Comparison][] => [
      [`${kind}${relation}`, { kind, relation, isPath: false }],
      [`${kind}${relation}Path`, { kind, relation, isPath: true }],
    ]),
  ),
);

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
export function isTimestamp(v: Json | undefined): v is string {
  return typeof v === 'string' && TIMESTAMP.test(v) && !Number.isNaN(Date.parse(v));
}

const MAX_DEPTH = 32;

/** Compiles one rule; `top` rules carry Next (checked by the caller). Throws naming `where`. */
export function compileRule(raw: Json, where: string, top: boolean, depth = 0): Rule {
  if (depth > MAX_DEPTH) throw new Error(`${where}: rules nest deeper than ${MAX_DEPTH}`);
  if (!isObject(raw)) throw new Error(`${where}: a choice rule is an object`);
  const allowed = new Set(['Variable', 'Comment', ...(top ? ['Next'] : [])]);
  const ops = Object.keys(raw).filter((k) => !allowed.has(k));
  if (ops.length !== 1)
    throw new Error(
      ops.length === 0
        ? `${where}: no comparison operator (e.g. "NumericEquals", "And", "IsPresent")`
        : `${where}: one operator per rule, found ${ops.join(', ')}`,
    );
  const op = ops[0]!;
  const value = raw[op]!;
  if (op === 'And' || op === 'Or') {
    if (raw.Variable !== undefined) throw new Error(`${where}: ${op} takes no Variable`);
    if (!Array.isArray(value) || value.length === 0) throw new Error(`${where}.${op}: a non-empty array of rules`);
    return { op, rules: value.map((r, i) => compileRule(r, `${where}.${op}[${i}]`, false, depth + 1)) };
  }
  if (op === 'Not') {
    if (raw.Variable !== undefined) throw new Error(`${where}: Not takes no Variable`);
    return { op, rule: compileRule(value, `${where}.Not`, false, depth + 1) };
  }
  return compileComparison(raw, op, value, where);
}

function variableOf(raw: Record<string, Json>, where: string): Path {
  if (typeof raw.Variable !== 'string') throw new Error(`${where}: Variable (a path) is missing`);
  try {
    const path = parsePath(raw.Variable);
    if (!path.definite) throw new Error(`"${raw.Variable}" selects many values; Variable must be a reference path`);
    return path;
  } catch (e) {
    throw new Error(`${where}.Variable: ${(e as Error).message}`, { cause: e });
  }
}

function compileComparison(raw: Record<string, Json>, op: string, value: Json, where: string): Rule {
  if ((TESTS as readonly string[]).includes(op)) {
    if (typeof value !== 'boolean') throw new Error(`${where}.${op}: true or false`);
    return { op: 'test', name: op as Test, variable: variableOf(raw, where), expected: value };
  }
  if (op === 'StringMatches') {
    if (typeof value !== 'string') throw new Error(`${where}.StringMatches: a string pattern`);
    return { op: 'match', variable: variableOf(raw, where), pattern: wildcardPattern(value) };
  }
  const c = COMPARISONS.get(op);
  if (!c) throw new Error(`${where}: unknown operator "${op}"`);
  const variable = variableOf(raw, where);
  if (c.isPath) {
    if (typeof value !== 'string') throw new Error(`${where}.${op}: a path`);
    try {
      return { op: 'compare', name: op, variable, ...c, operand: parsePath(value) };
    } catch (e) {
      throw new Error(`${where}.${op}: ${(e as Error).message}`, { cause: e });
    }
  }
  if (!ofKind(c.kind, value)) throw new Error(`${where}.${op}: ${KIND_NAMES[c.kind]}`);
  return { op: 'compare', name: op, variable, ...c, operand: value };
}

const KIND_NAMES: Record<Kind, string> = {
  String: 'a string',
  Numeric: 'a number',
  Boolean: 'true or false',
  Timestamp: 'an RFC 3339 timestamp such as "2026-01-01T00:00:00Z"',
};

function ofKind(kind: Kind, v: Json | undefined): boolean {
  switch (kind) {
    case 'String':
      return typeof v === 'string';
    case 'Numeric':
      return typeof v === 'number';
    case 'Boolean':
      return typeof v === 'boolean';
    case 'Timestamp':
      return isTimestamp(v);
  }
}

/** StringMatches: `*` matches any run of characters; `\*` and `\\` are literal. */
function wildcardPattern(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) source += escapeRegExp(pattern[++i]!);
    else source += c === '*' ? '[\\s\\S]*' : escapeRegExp(c);
  }
  return new RegExp(`^${source}$`);
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

export function evaluateRule(rule: Rule, data: Json, context: Json): boolean {
  switch (rule.op) {
    case 'And':
      return rule.rules.every((r) => evaluateRule(r, data, context));
    case 'Or':
      return rule.rules.some((r) => evaluateRule(r, data, context));
    case 'Not':
      return !evaluateRule(rule.rule, data, context);
    case 'test':
      return runTest(rule, data, context);
    case 'match': {
      const v = variable(rule.variable, data, context);
      return typeof v === 'string' && rule.pattern.test(v);
    }
    case 'compare': {
      const v = variable(rule.variable, data, context);
      const operand = rule.isPath ? variable(rule.operand as Path, data, context) : (rule.operand as Json);
      return compare(rule.kind, rule.relation, v, operand);
    }
  }
}

function variable(path: Path, data: Json, context: Json): Json {
  const v = readPath(path, data, context);
  if (!v.found)
    throw new StatesError(
      STATES_ERRORS.Runtime,
      `Invalid path "${path.text}": the choice rule's path selects nothing (${v.missing} is absent)`,
    );
  return v.value;
}

function runTest(rule: Extract<Rule, { op: 'test' }>, data: Json, context: Json): boolean {
  const found = readPath(rule.variable, data, context);
  if (rule.name === 'IsPresent') return found.found === rule.expected;
  if (!found.found) return false;
  const v = found.value;
  const holds = {
    IsNull: v === null,
    IsNumeric: typeof v === 'number',
    IsString: typeof v === 'string',
    IsBoolean: typeof v === 'boolean',
    IsTimestamp: isTimestamp(v),
  }[rule.name];
  return holds === rule.expected;
}

function compare(kind: Kind, relation: Relation, a: Json, b: Json): boolean {
  if (!ofKind(kind, a) || !ofKind(kind, b)) return false;
  if (kind === 'Boolean') return a === b;
  const x = kind === 'Timestamp' ? Date.parse(a as string) : (a as string | number);
  const y = kind === 'Timestamp' ? Date.parse(b as string) : (b as string | number);
  switch (relation) {
    case 'Equals':
      return x === y;
    case 'LessThan':
      return x < y;
    case 'GreaterThan':
      return x > y;
    case 'LessThanEquals':
      return x <= y;
    case 'GreaterThanEquals':
      return x >= y;
  }
}
