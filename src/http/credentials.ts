/**
 * The node's management token, checked in one place. Every listener (native API, compat
 * adapters, the lean invocation path) asks `check` what an Authorization header carries; nothing
 * else compares tokens. Both sides are hashed first so the comparison takes the same time
 * whatever the length of what a caller sent.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** What a request's Authorization header says about the node token. */
export type TokenVerdict = 'absent' | 'valid' | 'invalid';

/** Basic auth's user name (OpenFaaS clients send `admin:<token>`). */
export const BASIC_USER = 'admin';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export class NodeCredentials {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  /** `Bearer <token>`, or `Basic base64(admin:<token>)`; the scheme is case-insensitive. */
  check(authorization: string | string[] | undefined): TokenVerdict {
    if (typeof authorization !== 'string' || authorization === '') return 'absent';
    const space = authorization.indexOf(' ');
    if (space === -1) return 'invalid';
    const scheme = authorization.slice(0, space).toLowerCase();
    const value = authorization.slice(space + 1).trim();
    if (scheme === 'bearer') return this.matches(value) ? 'valid' : 'invalid';
    if (scheme !== 'basic') return 'invalid';
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return 'invalid';
    // Both parts are compared every time, so a wrong user costs as long as a wrong password.
    const userOk = decoded.slice(0, colon) === BASIC_USER;
    const passwordOk = this.matches(decoded.slice(colon + 1));
    return userOk && passwordOk ? 'valid' : 'invalid';
  }

  private matches(given: string): boolean {
    return timingSafeEqual(digest(given), this.expected);
  }
}
