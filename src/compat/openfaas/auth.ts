/**
 * The gateway's basic auth: user `admin`, password = the node's management token. /system/*
 * needs it; invocations are open. A `Bearer <token>` header (faas-cli --token) is accepted too.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { OpenfaasError } from './http-errors.js';

export const ADMIN_USER = 'admin';

function same(a: string, b: Buffer): boolean {
  const given = Buffer.from(a);
  return given.length === b.length && timingSafeEqual(given, b);
}

export class BasicAuth {
  private readonly password: Buffer;

  constructor(token: string) {
    this.password = Buffer.from(token);
  }

  accepts(headers: IncomingHttpHeaders): boolean {
    const header = headers.authorization;
    if (typeof header !== 'string') return false;
    const space = header.indexOf(' ');
    if (space === -1) return false;
    const scheme = header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (scheme === 'bearer') return same(value, this.password);
    if (scheme !== 'basic') return false;
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) return false;
    // Compare both parts every time so a wrong user costs as long as a wrong password.
    const userOk = decoded.slice(0, colon) === ADMIN_USER;
    const passwordOk = same(decoded.slice(colon + 1), this.password);
    return userOk && passwordOk;
  }

  /** 401 `invalid credentials` with `WWW-Authenticate: Basic realm="Restricted"`, as faas-provider answers. */
  require(headers: IncomingHttpHeaders): void {
    if (!this.accepts(headers))
      throw new OpenfaasError(401, 'invalid credentials', { 'www-authenticate': 'Basic realm="Restricted"' });
  }
}
