/**
 * The request target, made origin-form ("/path?query") before anything routes on it. RFC 9112
 * lets a client send the absolute form ("http://host/path") to any server, so a router and a
 * fast path that each read the raw target differently would disagree on what was asked for; from
 * here on every reader sees the same string.
 */
import { TernError } from '../core/errors.js';

/** "/path?query" for an origin- or absolute-form target; "*" stays (OPTIONS *); anything else is refused. */
export function originForm(target: string): string {
  if (target.charCodeAt(0) === 47 /* "/" */ || target === '*') return target;
  const scheme = /^https?:\/\//i.exec(target);
  if (scheme === null)
    throw new TernError('bad_request', 'the request target must be a path ("/…") or an absolute http URL');
  const pathAt = target.indexOf('/', scheme[0].length);
  const queryAt = target.indexOf('?', scheme[0].length);
  if (pathAt === -1 || (queryAt !== -1 && queryAt < pathAt)) return queryAt === -1 ? '/' : `/${target.slice(queryAt)}`;
  return target.slice(pathAt);
}
