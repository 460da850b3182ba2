/**
 * Faasm's clients read a call id as an integer (faasmcli: int(response)); Tern's own ids are not.
 * Calls made through this API get decimal ids: 128 bits from the CSPRNG, since an async call's id
 * is the capability to read its result. At 38–39 digits they never meet Tern's own 22-character
 * ids. They exceed Faasm's int32 message ids (its Python client reads them as big ints).
 */
import { randomBytes } from 'node:crypto';

export function newFaasmCallId(): string {
  return BigInt(`0x${randomBytes(16).toString('hex')}`).toString(10);
}

export function isFaasmCallId(id: string): boolean {
  return /^[0-9]{1,40}$/.test(id);
}

/**
 * The exact digits of a top-level integer member of a JSON object text: JSON.parse turns a
 * 128-bit id into an approximate double, and Faasm clients send ids as bare integers.
 */
export function topLevelInteger(json: string, key: string): string | undefined {
  const want = JSON.stringify(key);
  let depth = 0;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      const end = stringEnd(json, i);
      if (depth === 1 && json.slice(i, end + 1) === want) {
        const value = /^\s*:\s*(-?[0-9]+)(?![0-9.eE])/.exec(json.slice(end + 1));
        if (value) return value[1];
      }
      i = end;
    } else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
  }
  return undefined;
}

/** Index of the quote that closes the string opening at `start`. */
function stringEnd(json: string, start: number): number {
  for (let i = start + 1; i < json.length; i++) {
    if (json[i] === '\\') i++;
    else if (json[i] === '"') return i;
  }
  return json.length;
}
