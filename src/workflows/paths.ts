/**
 * The JSONPath subset ASL uses: `$` (the state's data) or `$$` (the context object), then fields
 * (`.name`, `['name']`), indexes (`[0]`, `[-1]` from the end), wildcards (`.*`, `[*]`) and slices
 * (`[1:3]`). A path without wildcards or slices is a *reference path* (one value, writable by
 * ResultPath); with them it selects many values, read back as an array.
 * Paths are parsed once, when the workflow is deployed.
 */
import { isObject, type Json } from './json.js';

export type Segment =
  | { kind: 'field'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'wildcard' }
  | { kind: 'slice'; start: number | undefined; end: number | undefined };

export interface Path {
  readonly text: string;
  readonly context: boolean;
  readonly segments: readonly Segment[];
  /** No wildcard or slice: selects at most one value. */
  readonly definite: boolean;
}

export class PathSyntaxError extends Error {}

const MAX_PATH_LENGTH = 1024;
const FIELD = /^[^.[\]\s'"*]+/;

export function parsePath(text: string): Path {
  if (text.length > MAX_PATH_LENGTH) throw new PathSyntaxError(`a path is at most ${MAX_PATH_LENGTH} characters`);
  const context = text.startsWith('$$');
  if (!context && !text.startsWith('$')) throw new PathSyntaxError(`"${text}" is not a path: it must start with "$"`);
  const segments: Segment[] = [];
  let i = context ? 2 : 1;
  while (i < text.length) {
    const rest = text.slice(i);
    if (rest.startsWith('.*')) {
      segments.push({ kind: 'wildcard' });
      i += 2;
    } else if (rest.startsWith('.')) {
      const m = FIELD.exec(rest.slice(1));
      if (!m) throw new PathSyntaxError(`"${text}": a field name must follow "." at character ${i + 1}`);
      segments.push({ kind: 'field', name: m[0] });
      i += 1 + m[0].length;
    } else if (rest.startsWith('[')) {
      const { segment, length } = bracket(text, i);
      segments.push(segment);
      i += length;
    } else {
      throw new PathSyntaxError(`"${text}": unexpected "${rest[0]}" at character ${i + 1}`);
    }
  }
  const definite = segments.every((s) => s.kind === 'field' || s.kind === 'index');
  return { text, context, segments, definite };
}

function bracket(text: string, at: number): { segment: Segment; length: number } {
  const close = text.indexOf(']', at);
  const quote = text[at + 1];
  if (quote === "'" || quote === '"') {
    let name = '';
    let i = at + 2;
    while (i < text.length && text[i] !== quote) {
      if (text[i] === '\\' && i + 1 < text.length) i++;
      name += text[i];
      i++;
    }
    if (text[i] !== quote || text[i + 1] !== ']') throw new PathSyntaxError(`"${text}": unclosed [${quote}…${quote}]`);
    return { segment: { kind: 'field', name }, length: i + 2 - at };
  }
  if (close < 0) throw new PathSyntaxError(`"${text}": "[" at character ${at + 1} is never closed`);
  const inner = text.slice(at + 1, close).trim();
  const length = close + 1 - at;
  if (inner === '*') return { segment: { kind: 'wildcard' }, length };
  if (/^-?\d+$/.test(inner)) return { segment: { kind: 'index', index: Number(inner) }, length };
  const slice = /^(-?\d+)?:(-?\d+)?$/.exec(inner);
  if (slice) {
    const n = (s: string | undefined) => (s === undefined ? undefined : Number(s));
    return { segment: { kind: 'slice', start: n(slice[1]), end: n(slice[2]) }, length };
  }
  throw new PathSyntaxError(`"${text}": [${inner}] is not an index, a quoted name, "*" or a slice`);
}

export type PathValue = { found: true; value: Json } | { found: false; missing: string };

/** The value a path selects in `data` (`$`) or `context` (`$$`). A path with wildcards gives an array. */
export function readPath(path: Path, data: Json, context: Json): PathValue {
  const root = path.context ? context : data;
  if (path.definite) return readDefinite(path, root);
  let current: Json[] = [root];
  for (const segment of path.segments) current = current.flatMap((v) => step(v, segment));
  return { found: true, value: current };
}

function readDefinite(path: Path, root: Json): PathValue {
  let value: Json = root;
  for (let i = 0; i < path.segments.length; i++) {
    const segment = path.segments[i]!;
    const next = step(value, segment);
    if (next.length === 0) return { found: false, missing: describePrefix(path, i + 1) };
    value = next[0]!;
  }
  return { found: true, value };
}

function describePrefix(path: Path, count: number): string {
  let text = path.context ? '$$' : '$';
  for (const s of path.segments.slice(0, count)) {
    text +=
      s.kind === 'field'
        ? FIELD.test(s.name) && FIELD.exec(s.name)![0] === s.name
          ? `.${s.name}`
          : `['${s.name}']`
        : `[${s.kind === 'index' ? s.index : '*'}]`;
  }
  return text;
}

function step(value: Json, segment: Segment): Json[] {
  switch (segment.kind) {
    case 'field':
      return isObject(value) && Object.hasOwn(value, segment.name) ? [value[segment.name]!] : [];
    case 'index': {
      if (!Array.isArray(value)) return [];
      const i = segment.index < 0 ? value.length + segment.index : segment.index;
      return i >= 0 && i < value.length ? [value[i]!] : [];
    }
    case 'wildcard':
      return Array.isArray(value) ? value : isObject(value) ? Object.values(value) : [];
    case 'slice':
      return Array.isArray(value) ? value.slice(segment.start, segment.end) : [];
  }
}

/** Why a path cannot be a ResultPath, or undefined when it can. */
export function resultPathProblem(path: Path): string | undefined {
  if (path.context) return 'a ResultPath cannot write to the context object ($$)';
  if (!path.segments.every((s) => s.kind === 'field'))
    return 'a ResultPath names object fields only (no indexes, wildcards or slices)';
  return undefined;
}

/**
 * `input` with `result` placed at `path` (fields only, checked at deploy): copies the objects
 * along the path, creates missing ones. Undefined when a value on the way is not an object.
 */
export function writePath(path: Path, input: Json, result: Json): Json | undefined {
  const write = (node: Json, i: number): Json | undefined => {
    if (i === path.segments.length) return result;
    const segment = path.segments[i] as { kind: 'field'; name: string };
    if (!isObject(node)) return undefined;
    const child = Object.hasOwn(node, segment.name) ? node[segment.name]! : {};
    const written = write(child, i + 1);
    return written === undefined ? undefined : { ...node, [segment.name]: written };
  };
  return write(input, 0);
}
