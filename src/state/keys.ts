/**
 * State keys: short, printable, safe in a URL path, a Redis key and (hashed) a file name.
 * One rule for every way in (wasm imports, python/node ctx, the admin API).
 */
import { TernError } from '../core/errors.js';

export const MAX_KEY_LENGTH = 250;
const KEY_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._:@/+=-]*$/;

export const KEY_RULE = `1–${MAX_KEY_LENGTH} characters of letters, digits and . _ - : / @ + =, not starting with . / : @ + = or -`;

export function isValidKey(key: string): boolean {
  return key.length > 0 && key.length <= MAX_KEY_LENGTH && KEY_PATTERN.test(key);
}

/** The key itself, or a 400 naming the rule. */
export function checkKey(key: unknown): string {
  if (typeof key !== 'string' || !isValidKey(key)) {
    const shown = typeof key === 'string' ? JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}…` : key) : typeof key;
    throw new TernError('bad_request', `bad state key ${shown}: a key is ${KEY_RULE}`);
  }
  return key;
}
