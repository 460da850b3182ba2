/**
 * Payload templates (Parameters, ResultSelector, ItemSelector): JSON where a key ending in `.$`
 * takes its value from a path or an intrinsic call. Compiled once at deploy; a subtree with no
 * `.$` key is kept as one constant (values are never mutated, so sharing it is safe).
 */
import { StatesError, STATES_ERRORS } from './errors.js';
import { evaluateIntrinsic, isIntrinsic, parseIntrinsic, type IntrinsicCall } from './intrinsics.js';
import { isObject, type Json, type JsonObject } from './json.js';
import { parsePath, readPath, type Path } from './paths.js';

export type Template =
  | { kind: 'const'; value: Json }
  | { kind: 'object'; entries: readonly (readonly [string, Template])[] }
  | { kind: 'array'; items: readonly Template[] }
  | { kind: 'path'; path: Path; key: string }
  | { kind: 'intrinsic'; call: IntrinsicCall; key: string };

/** Compiles `value`; throws an Error naming the key (`where`) on a bad path or call. */
export function compileTemplate(value: Json, where: string): Template {
  if (Array.isArray(value)) {
    const items = value.map((v, i) => compileTemplate(v, `${where}[${i}]`));
    return items.every((t) => t.kind === 'const') ? { kind: 'const', value } : { kind: 'array', items };
  }
  if (!isObject(value)) return { kind: 'const', value };
  const entries: (readonly [string, Template])[] = [];
  for (const [key, v] of Object.entries(value)) {
    if (!key.endsWith('.$')) {
      entries.push([key, compileTemplate(v, `${where}.${key}`)]);
      continue;
    }
    const name = key.slice(0, -2);
    if (typeof v !== 'string')
      throw new Error(`${where}.${key}: a ".$" key takes a path or an intrinsic call (a string)`);
    try {
      entries.push([
        name,
        isIntrinsic(v)
          ? { kind: 'intrinsic', call: parseIntrinsic(v), key }
          : { kind: 'path', path: parsePath(v), key },
      ]);
    } catch (e) {
      throw new Error(`${where}.${key}: ${(e as Error).message}`, { cause: e });
    }
  }
  return entries.every(([, t]) => t.kind === 'const') ? { kind: 'const', value } : { kind: 'object', entries };
}

export function applyTemplate(t: Template, data: Json, context: Json): Json {
  switch (t.kind) {
    case 'const':
      return t.value;
    case 'array':
      return t.items.map((item) => applyTemplate(item, data, context));
    case 'path': {
      const v = readPath(t.path, data, context);
      if (!v.found)
        throw new StatesError(
          STATES_ERRORS.ParameterPathFailure,
          `the value of "${t.key}" (${t.path.text}) selects nothing: ${v.missing} is absent from the input`,
        );
      return v.value;
    }
    case 'intrinsic':
      return evaluateIntrinsic(t.call, data, context);
    case 'object': {
      const out: JsonObject = {};
      for (const [key, child] of t.entries) out[key] = applyTemplate(child, data, context);
      return out;
    }
  }
}
