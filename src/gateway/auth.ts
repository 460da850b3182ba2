/** Bearer-token checks for management calls and private functions. */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { TernError } from '../core/errors.js';

export class TokenAuth {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = Buffer.from(token);
  }

  /** True when the Authorization header carries the node token. */
  accepts(headers: IncomingHttpHeaders): boolean {
    const header = headers.authorization;
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
    const given = Buffer.from(header.slice(7).trim());
    return given.length === this.expected.length && timingSafeEqual(given, this.expected);
  }

  /** Throws 401 without a token, 403 with a wrong one. */
  require(headers: IncomingHttpHeaders): void {
    const header = headers.authorization;
    if (header === undefined || header === '') {
      throw new TernError(
        'unauthorized',
        'this call needs "Authorization: Bearer <token>" (the node token; see `tern serve` output)',
        { 'www-authenticate': 'Bearer' },
      );
    }
    if (!this.accepts(headers)) throw new TernError('forbidden', 'the token is not valid for this node');
  }
}
