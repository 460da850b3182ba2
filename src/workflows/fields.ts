/** Reads one ASL object's fields with errors that name the state and the field. */
import { isObject, typeName, type Json, type JsonObject } from './json.js';
import type { DataPath, ResultPath } from './machine.js';
import { parsePath, resultPathProblem, type Path } from './paths.js';
import { compileTemplate, type Template } from './template.js';

export class AslError extends Error {
  constructor(
    message: string,
    /** The state the problem is in ("" for the document itself). */
    readonly state: string,
  ) {
    super(message);
    this.name = 'AslError';
  }
}

export class Fields {
  constructor(
    readonly raw: JsonObject,
    /** How errors name the object: `state "Name"`, `state "P" > Branches[0]`, … */
    readonly where: string,
    readonly state: string,
  ) {}

  fail(why: string): never {
    throw new AslError(`${this.where}: ${why}`, this.state);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined;
  }

  /** Refuses fields this kind of object does not take (a typo would otherwise be ignored). */
  only(allowed: readonly string[], what: string): void {
    for (const key of Object.keys(this.raw))
      if (!allowed.includes(key)) this.fail(`unknown field "${key}" for ${what} (it takes ${allowed.join(', ')})`);
  }

  string(key: string): string | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') this.fail(`${key} must be a string, got ${typeName(v)}`);
    return v;
  }

  requiredString(key: string): string {
    const v = this.string(key);
    if (v === undefined || v === '') this.fail(`${key} is missing`);
    return v;
  }

  number(key: string, o: { min: number; max?: number; integer?: boolean }): number | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(`${key} must be a number, got ${typeName(v)}`);
    if (o.integer && !Number.isInteger(v)) this.fail(`${key} must be a whole number, got ${v}`);
    if (v < o.min || (o.max !== undefined && v > o.max))
      this.fail(
        `${key} must be ${o.max === undefined ? `at least ${o.min}` : `between ${o.min} and ${o.max}`}, got ${v}`,
      );
    return v;
  }

  boolean(key: string): boolean | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') this.fail(`${key} must be true or false, got ${typeName(v)}`);
    return v;
  }

  path(key: string, o: { reference?: boolean } = {}): Path | undefined {
    const text = this.string(key);
    if (text === undefined) return undefined;
    try {
      const path = parsePath(text);
      if (o.reference && !path.definite) this.fail(`${key} must be a reference path (no wildcards or slices)`);
      return path;
    } catch (e) {
      if (e instanceof AslError) throw e;
      this.fail(`${key}: ${(e as Error).message}`);
    }
  }

  /** InputPath / OutputPath: null is allowed (an empty object). */
  dataPath(key: string): DataPath {
    if (this.raw[key] === null) return null;
    const path = this.path(key);
    return path?.text === '$' ? undefined : path;
  }

  resultPath(key = 'ResultPath'): ResultPath {
    if (this.raw[key] === null) return { kind: 'discard' };
    const path = this.path(key);
    if (path === undefined || (path.segments.length === 0 && !path.context)) return { kind: 'replace' };
    const problem = resultPathProblem(path);
    if (problem) this.fail(`${key}: ${problem}`);
    return { kind: 'path', path };
  }

  template(key: string): Template | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (!isObject(v) && !Array.isArray(v)) this.fail(`${key} must be an object`);
    try {
      return compileTemplate(v, key);
    } catch (e) {
      this.fail((e as Error).message);
    }
  }

  array(key: string): Json[] | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) this.fail(`${key} must be an array, got ${typeName(v)}`);
    return v;
  }

  object(key: string): JsonObject | undefined {
    const v = this.raw[key];
    if (v === undefined) return undefined;
    if (!isObject(v)) this.fail(`${key} must be an object, got ${typeName(v)}`);
    return v;
  }

  child(value: Json, suffix: string): Fields {
    if (!isObject(value)) this.fail(`${suffix} must be an object, got ${typeName(value)}`);
    return new Fields(value, `${this.where}.${suffix}`, this.state);
  }
}
