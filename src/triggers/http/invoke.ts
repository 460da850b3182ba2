/**
 * What the HTTP trigger does with a call, whichever path parsed it (the lean node:http path in
 * fast-path.ts or the fastify routes in routes.ts): URL -> Invocation, the private-function check,
 * then the scheduler. Translation only; the answer is written by the path that took the request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { TernError } from '../../core/errors.js';
import { createInvocation, type Invocation } from '../../core/invocation.js';
import type { Result } from '../../core/result.js';
import { flattenHeaders, splitUrl } from '../../gateway/http-io.js';
import type { Registry } from '../../registry/registry.js';
import type { CallRecord, Scheduler } from '../../scheduler/types.js';

export interface HttpTriggerDeps {
  scheduler: Pick<Scheduler, 'invoke' | 'submit'>;
  registry: Pick<Registry, 'get'>;
  /** Checks the node token for private functions; throws 401/403. */
  requireToken: (headers: IncomingHttpHeaders) => void;
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
}

/** Build the invocation from "/fn/name/rest?query" (prefix = SYNC_PREFIX or ASYNC_PREFIX). */
export function invocationFrom(req: HttpRequestParts, prefix: string, trigger: Invocation['trigger']): Invocation {
  const { path, query } = splitUrl(req.url);
  const rest = path.slice(prefix.length);
  const slash = rest.indexOf('/');
  const name = slash === -1 ? rest : rest.slice(0, slash);
  return createInvocation({
    // Without "%" there is nothing to decode (the common case, and the lean path's only one).
    function: name.includes('%') ? decodeURIComponent(name) : name,
    method: req.method,
    path: slash === -1 ? '/' : rest.slice(slash),
    query,
    headers: flattenHeaders(req.headers),
    ...(req.body ? { body: req.body } : {}),
    trigger,
  });
}

export class HttpInvoker {
  constructor(private readonly deps: HttpTriggerDeps) {}

  /** A synchronous call; throws (401/403) before it starts when a private function lacks the token. */
  sync(inv: Invocation, headers: IncomingHttpHeaders): Promise<Result> {
    this.checkPrivate(inv.function, headers);
    return this.deps.scheduler.invoke(inv);
  }

  /** An asynchronous call: resolves with its record once accepted; throws 404 for an unknown function, 401/403 as sync. */
  submit(inv: Invocation, headers: IncomingHttpHeaders): Promise<CallRecord> {
    if (!this.deps.registry.get(inv.function)) throw new TernError('not_found', `no function "${inv.function}"`);
    this.checkPrivate(inv.function, headers);
    return this.deps.scheduler.submit(inv);
  }

  private checkPrivate(name: string, headers: IncomingHttpHeaders): void {
    if (this.deps.registry.get(name)?.spec.private) this.deps.requireToken(headers);
  }
}
