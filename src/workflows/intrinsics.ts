/**
 * ASL intrinsic functions (`"key.$": "States.Format('Hi {}', $.name)"`): parsed when the workflow
 * is deployed (an unknown function or a wrong number of arguments is a deploy error), evaluated
 * per run. Failures at run time are `States.IntrinsicFailure`.
 */
import { createHash, randomInt, randomUUID } from 'node:crypto';
import { StatesError, STATES_ERRORS } from './errors.js';
import { isObject, jsonEquals, preview, typeName, type Json } from './json.js';
import { parsePath, readPath, type Path } from './paths.js';

export type Arg =
  { kind: 'literal'; value: Json } | { kind: 'path'; path: Path } | { kind: 'call'; call: IntrinsicCall };

export interface IntrinsicCall {
  readonly name: string;
  readonly args: readonly Arg[];
}

type Impl = (args: Json[]) => Json;
interface Spec {
  min: number;
  max: number;
  run: Impl;
}

const MAX_ARRAY = 10_000;
const HASHES: Record<string, string> = {
  MD5: 'md5',
  'SHA-1': 'sha1',
  'SHA-256': 'sha256',
  'SHA-384': 'sha384',
  'SHA-512': 'sha512',
};

function fail(name: string, why: string): never {
  throw new StatesError(STATES_ERRORS.IntrinsicFailure, `States.${name}: ${why}`);
}

function str(name: string, v: Json | undefined, what: string): string {
  if (typeof v !== 'string') fail(name, `${what} must be a string, got ${typeName(v)}`);
  return v;
}

function num(name: string, v: Json | undefined, what: string, integer = false): number {
  if (typeof v !== 'number' || (integer && !Number.isInteger(v)))
    fail(name, `${what} must be ${integer ? 'an integer' : 'a number'}, got ${preview(v)}`);
  return v;
}

function arr(name: string, v: Json | undefined, what: string): Json[] {
  if (!Array.isArray(v)) fail(name, `${what} must be an array, got ${typeName(v)}`);
  return v;
}

function format(args: Json[]): Json {
  const template = str('Format', args[0], 'the template');
  const values = args.slice(1);
  let used = 0;
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '\\' && i + 1 < template.length) {
      out += template[++i];
    } else if (c === '{' && template[i + 1] === '}') {
      if (used >= values.length) fail('Format', `the template has more {} than the ${values.length} value(s) given`);
      const v = values[used++]!;
      if (typeof v === 'object' && v !== null)
        fail('Format', `{} takes a string, number, boolean or null, got ${typeName(v)}`);
      out += v === null ? 'null' : String(v);
      i++;
    } else {
      out += c;
    }
  }
  if (used !== values.length) fail('Format', `${values.length} value(s) given for ${used} {}`);
  return out;
}

function range(args: Json[]): Json {
  const [start, end, stepBy] = args.map((a, i) => num('ArrayRange', a, `argument ${i + 1}`, true));
  if (stepBy === 0) fail('ArrayRange', 'the step must not be 0');
  const count = Math.floor((end! - start!) / stepBy!) + 1;
  if (count > MAX_ARRAY) fail('ArrayRange', `the range has ${count} items, over ${MAX_ARRAY}`);
  return Array.from({ length: Math.max(0, count) }, (_, i) => start! + i * stepBy!);
}

function partition(args: Json[]): Json {
  const items = arr('ArrayPartition', args[0], 'the first argument');
  const size = num('ArrayPartition', args[1], 'the chunk size', true);
  if (size < 1) fail('ArrayPartition', 'the chunk size must be at least 1');
  const out: Json[] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function hash(args: Json[]): Json {
  const algorithm = HASHES[str('Hash', args[1], 'the algorithm')];
  if (!algorithm) fail('Hash', `the algorithm is one of ${Object.keys(HASHES).join(', ')}`);
  const data = typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0]);
  return createHash(algorithm).update(data).digest('hex');
}

function merge(args: Json[]): Json {
  const [a, b, deep] = args;
  if (!isObject(a) || !isObject(b)) fail('JsonMerge', 'both values must be objects');
  if (deep !== false) fail('JsonMerge', 'only a shallow merge is supported: the third argument must be false');
  return { ...a, ...b };
}

function parseJson(args: Json[]): Json {
  const text = str('StringToJson', args[0], 'the argument');
  try {
    return JSON.parse(text) as Json;
  } catch (e) {
    fail('StringToJson', `not JSON: ${(e as Error).message}`);
  }
}

function base64Decode(args: Json[]): Json {
  const text = str('Base64Decode', args[0], 'the argument');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) fail('Base64Decode', 'not base64');
  return Buffer.from(text, 'base64').toString('utf8');
}

const FUNCTIONS: Record<string, Spec> = {
  Format: { min: 1, max: Infinity, run: format },
  StringToJson: { min: 1, max: 1, run: parseJson },
  JsonToString: { min: 1, max: 1, run: (a) => JSON.stringify(a[0]) },
  Array: { min: 0, max: Infinity, run: (a) => a },
  ArrayPartition: { min: 2, max: 2, run: partition },
  ArrayContains: {
    min: 2,
    max: 2,
    run: (a) => arr('ArrayContains', a[0], 'the first argument').some((x) => jsonEquals(x, a[1]!)),
  },
  ArrayRange: { min: 3, max: 3, run: range },
  ArrayGetItem: {
    min: 2,
    max: 2,
    run: (a) => {
      const items = arr('ArrayGetItem', a[0], 'the first argument');
      const i = num('ArrayGetItem', a[1], 'the index', true);
      if (i < 0 || i >= items.length) fail('ArrayGetItem', `index ${i} is out of bounds (length ${items.length})`);
      return items[i]!;
    },
  },
  ArrayLength: { min: 1, max: 1, run: (a) => arr('ArrayLength', a[0], 'the argument').length },
  ArrayUnique: {
    min: 1,
    max: 1,
    run: (a) =>
      arr('ArrayUnique', a[0], 'the argument').filter((x, i, all) => all.findIndex((y) => jsonEquals(x, y)) === i),
  },
  Base64Encode: {
    min: 1,
    max: 1,
    run: (a) => Buffer.from(str('Base64Encode', a[0], 'the argument')).toString('base64'),
  },
  Base64Decode: { min: 1, max: 1, run: base64Decode },
  Hash: { min: 2, max: 2, run: hash },
  JsonMerge: { min: 3, max: 3, run: merge },
  MathRandom: {
    min: 2,
    max: 3,
    run: (a) => randomInt(num('MathRandom', a[0], 'the start', true), num('MathRandom', a[1], 'the end', true)),
  },
  MathAdd: {
    min: 2,
    max: 2,
    run: (a) => num('MathAdd', a[0], 'the first value') + num('MathAdd', a[1], 'the second value'),
  },
  StringSplit: {
    min: 2,
    max: 2,
    run: (a) => {
      const text = str('StringSplit', a[0], 'the string');
      const delimiters = [...str('StringSplit', a[1], 'the delimiters')];
      return delimiters.length === 0
        ? [text]
        : text.split(new RegExp(`[${delimiters.map((d) => `\\${d}`).join('')}]`)).filter((s) => s !== '');
    },
  },
  UUID: { min: 0, max: 0, run: () => randomUUID() },
};

export class IntrinsicSyntaxError extends Error {}

/** Whether a `.$` value is an intrinsic call (else it must be a path). */
export function isIntrinsic(text: string): boolean {
  return text.startsWith('States.');
}

export function parseIntrinsic(text: string): IntrinsicCall {
  const parser = new Parser(text);
  const call = parser.call();
  parser.skipSpace();
  if (!parser.done())
    throw new IntrinsicSyntaxError(`"${text}": unexpected text after the call at character ${parser.at + 1}`);
  return call;
}

class Parser {
  at = 0;
  constructor(private readonly text: string) {}

  done(): boolean {
    return this.at >= this.text.length;
  }

  skipSpace(): void {
    while (this.text[this.at] === ' ') this.at++;
  }

  private error(why: string): never {
    throw new IntrinsicSyntaxError(`"${this.text}": ${why} at character ${this.at + 1}`);
  }

  call(): IntrinsicCall {
    const m = /^States\.([A-Za-z0-9]+)\(/.exec(this.text.slice(this.at));
    if (!m) this.error('expected States.Name(');
    const name = m[1]!;
    const spec = FUNCTIONS[name];
    if (!spec) this.error(`unknown intrinsic function States.${name} (known: ${Object.keys(FUNCTIONS).join(', ')})`);
    this.at += m[0].length;
    const args: Arg[] = [];
    this.skipSpace();
    if (this.text[this.at] === ')') this.at++;
    else {
      for (;;) {
        this.skipSpace();
        args.push(this.arg());
        this.skipSpace();
        const c = this.text[this.at++];
        if (c === ')') break;
        if (c !== ',') this.error('expected "," or ")"');
      }
    }
    if (args.length < spec.min || args.length > spec.max) {
      const want =
        spec.min === spec.max
          ? `${spec.min}`
          : spec.max === Infinity
            ? `at least ${spec.min}`
            : `${spec.min}-${spec.max}`;
      throw new IntrinsicSyntaxError(`"${this.text}": States.${name} takes ${want} argument(s), got ${args.length}`);
    }
    return { name, args };
  }

  private arg(): Arg {
    const rest = this.text.slice(this.at);
    if (rest.startsWith("'")) return { kind: 'literal', value: this.string() };
    if (rest.startsWith('States.')) return { kind: 'call', call: this.call() };
    if (rest.startsWith('$')) {
      let depth = 0;
      let end = this.at;
      while (end < this.text.length) {
        const c = this.text[end]!;
        if (c === '[') depth++;
        else if (c === ']') depth--;
        else if (depth === 0 && (c === ',' || c === ')')) break;
        end++;
      }
      const text = this.text.slice(this.at, end).trim();
      this.at = end;
      try {
        return { kind: 'path', path: parsePath(text) };
      } catch (e) {
        throw new IntrinsicSyntaxError((e as Error).message);
      }
    }
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(rest);
    if (!m) this.error('expected a quoted string, a number, true, false, null, a path or a States.* call');
    this.at += m[0].length;
    return { kind: 'literal', value: JSON.parse(m[0]) as Json };
  }

  private string(): string {
    let out = '';
    this.at++;
    while (this.at < this.text.length && this.text[this.at] !== "'") {
      if (this.text[this.at] === '\\' && this.at + 1 < this.text.length) {
        const next = this.text[this.at + 1]!;
        // \{ and \} stay escaped so States.Format can tell them from placeholders.
        out += next === '{' || next === '}' ? `\\${next}` : next;
        this.at += 2;
      } else out += this.text[this.at++];
    }
    if (this.text[this.at] !== "'") this.error('unclosed string');
    this.at++;
    return out;
  }
}

/** Evaluates a call against the state's data and the context object. */
export function evaluateIntrinsic(call: IntrinsicCall, data: Json, context: Json): Json {
  const args = call.args.map((a, i): Json => {
    // Only States.Format's template keeps \{ and \} escaped: it tells them from placeholders.
    if (a.kind === 'literal') return call.name === 'Format' && i === 0 ? a.value : unescapeBraces(a.value);
    if (a.kind === 'call') return evaluateIntrinsic(a.call, data, context);
    const v = readPath(a.path, data, context);
    if (!v.found)
      throw new StatesError(
        STATES_ERRORS.IntrinsicFailure,
        `States.${call.name}: the path ${a.path.text} selects nothing (${v.missing} is absent)`,
      );
    return v.value;
  });
  return FUNCTIONS[call.name]!.run(args);
}

function unescapeBraces(v: Json): Json {
  return typeof v === 'string' ? v.replace(/\\([{}])/g, '$1') : v;
}
