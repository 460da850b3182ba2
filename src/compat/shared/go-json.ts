/**
 * Request bodies as Serverledge (Go's encoding/json) reads them: field names match without regard
 * to case, unknown fields are ignored, and an empty body is an empty object.
 */
import { type z } from 'zod';
import { TernError } from '../../core/errors.js';

/** Parse `body` and check it against `schema`, whose keys are the lower-cased Go field names. */
export function parseGoJson<S extends z.ZodType>(body: unknown, schema: S, what: string): z.output<S> {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : '';
  let raw: unknown = {};
  if (text.trim() !== '') {
    try {
      raw = JSON.parse(text);
    } catch (e) {
      throw new TernError('bad_request', `${what}: the body is not JSON (${(e as Error).message})`);
    }
  }
  if (raw === null) raw = {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new TernError('bad_request', `${what}: the body must be a JSON object`);
  const lowered: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(raw)) {
    // Go prefers the exact name; both spellings at once are a client bug, first one wins.
    if (!(key.toLowerCase() in lowered)) lowered[key.toLowerCase()] = value;
  }
  const parsed = schema.safeParse(lowered);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    throw new TernError('bad_request', `${what}: ${issues}`);
  }
  return parsed.data;
}
