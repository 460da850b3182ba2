/** The steps every state applies to its data: InputPath, ResultPath, OutputPath, and Retry's delay. */
import { StatesError, STATES_ERRORS } from './errors.js';
import { typeName, type Json } from './json.js';
import type { DataPath, ResultPath, Retrier } from './machine.js';
import { readPath, writePath } from './paths.js';

/** InputPath or OutputPath: "$" (absent) keeps all, null gives {}, a path selects. */
export function selectPath(path: DataPath, field: 'InputPath' | 'OutputPath', data: Json, context: Json): Json {
  if (path === undefined) return data;
  if (path === null) return {};
  const v = readPath(path, data, context);
  if (!v.found)
    throw new StatesError(
      STATES_ERRORS.Runtime,
      `${field} "${path.text}" selects nothing: ${v.missing} is absent from the state's ${field === 'InputPath' ? 'input' : 'output'}`,
    );
  return v.value;
}

/** The state's output before OutputPath: its raw input with the result placed by ResultPath. */
export function placeResult(resultPath: ResultPath, rawInput: Json, result: Json): Json {
  if (resultPath.kind === 'replace') return result;
  if (resultPath.kind === 'discard') return rawInput;
  const out = writePath(resultPath.path, rawInput, result);
  if (out === undefined)
    throw new StatesError(
      STATES_ERRORS.ResultPathMatchFailure,
      `ResultPath "${resultPath.path.text}" cannot be written into the input (${typeName(rawInput)}): a value on the way is not an object`,
    );
  return out;
}

/** Milliseconds before retry number `attempt` (0 for the first retry) under `r`. */
export function retryDelayMs(r: Retrier, attempt: number): number {
  let seconds = r.intervalSeconds * r.backoffRate ** attempt;
  if (r.maxDelaySeconds !== undefined) seconds = Math.min(seconds, r.maxDelaySeconds);
  if (r.jitter === 'FULL') seconds = Math.random() * seconds;
  return seconds * 1000;
}

/** Size of a value as JSON, bytes; undefined when it cannot be serialised. */
export function jsonBytes(v: Json): number {
  return Buffer.byteLength(JSON.stringify(v) ?? '');
}
