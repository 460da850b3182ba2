/**
 * What the HTTP trigger does with a call, whichever path parsed it (the lean node:http path in
 * fast-path.ts or the fastify routes in routes.ts): URL -> Invocation, then the scheduler (which
 * also refuses private functions to calls without the token). Translation only; the answer is
 * written by the path that took the request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createInvocation, type Invocation } from '../../core/invocation.js';
import type { Result } from '../../core/result.js';
import { callerHeaders, splitUrl } from '../../http/headers.js';
import type { CallRecord, Scheduler } from '../../scheduler/types.js';

export interface HttpTriggerDeps {
  scheduler: Pick<Scheduler, 'invoke' | 'submit'>;
}

export const SYNC_PREFIX = '/fn/';
export const ASYNC_PREFIX = '/async/fn/';
/** The methods the trigger serves; others get the router's 404. */
export const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'] as const;

export interface HttpRequestParts {
  method: string;
  /** Raw request target: "/fn/name/rest?query". */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer | undefined;
  /** The request carried the valid node token (the access check decided). */
  authenticated: boolean;
}

/** Where the function's name starts in a path that begins with `prefix` ("/fn/" or "/async/fn/"), in raw bytes. */
function nameStart(path: string, prefix: string): number {
  // The router matched the prefix on the decoded path; the raw one may spell it encoded ("/%66n/"),
  // so count its slashes instead of its characters.
  let at = 0;
  for (let slashes = prefix.split('/').length - 1; slashes > 0; slashes--) at = path.indexOf('/', at) + 1;
  return at;
}

/** Build the invocation from "/fn/name/rest?query" (prefix = SYNC_PREFIX or ASYNC_PREFIX). */
export function invocationFrom(req: HttpRequestParts, prefix: string, trigger: Invocation['trigger']): Invocation {
  const { path, query } = splitUrl(req.url);
  const rest = path.startsWith(prefix) ? path.slice(prefix.length) : path.slice(nameStart(path, prefix));
  const slash = rest.indexOf('/');
  const name = slash === -1 ? rest : rest.slice(0, slash);
  return createInvocation({
    // Without "%" there is nothing to decode (the common case, and the lean path's only one).
    function: name.includes('%') ? decodeURIComponent(name) : name,
    method: req.method,
    path: slash === -1 ? '/' : rest.slice(slash),
    query,
    headers: callerHeaders(req.headers, req.authenticated),
    ...(req.body ? { body: req.body } : {}),
    trigger,
    authenticated: req.authenticated,
  });
}

export class HttpInvoker {
  constructor(private readonly deps: HttpTriggerDeps) {}

  sync(inv: Invocation): Promise<Result> {
    return this.deps.scheduler.invoke(inv);
  }

  /** An asynchronous call: resolves with its record once accepted; rejects (404, 401) before anything runs. */
  submit(inv: Invocation): Promise<CallRecord> {
    return this.deps.scheduler.submit(inv);
  }
}
