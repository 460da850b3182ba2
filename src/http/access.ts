/**
 * Who may call a route, decided once, on the route the router matched. Every route declares its
 * access in its config (`config: { access }`); a route that declares nothing needs the token, so
 * forgetting is safe. The decision never looks at the raw URL: the router has already decoded it,
 * stripped an absolute-form target and chosen the handler, and the check follows that choice.
 *
 * - `token`: management; needs the node token unless the listener is opened (compat
 *   `open-management = true`).
 * - `public`: anyone (invocations, health, the dashboard's files). The request still learns whether
 *   it carried the token (`request.authenticated`): the scheduler refuses private functions to
 *   calls that did not.
 * - `cluster`: node-to-node; such routes exist only inside the cluster's own scope, whose hooks
 *   verify the peer's signed envelope and body on the matched route (src/cluster/routes.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TernError } from '../core/errors.js';
import type { NodeCredentials, TokenVerdict } from './credentials.js';

export type Access = 'token' | 'public' | 'cluster';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    /** The request carried the valid node token (decided by the access hook). */
    authenticated: boolean;
  }
}

export interface AccessOptions {
  credentials: NodeCredentials;
  /** Management routes need no token on this listener (a compat profile's `open-management`). */
  openManagement?: boolean;
  /** The error for a management call without a valid token (compat adapters answer in their own format). */
  denied?: (verdict: Exclude<TokenVerdict, 'valid'>) => Error;
}

/**
 * The challenge for a missing or wrong token (RFC 6750 section 3): every listener, native and compat,
 * answers both with 401, so a client tells "no or wrong credentials" from "not allowed" (403) the
 * same way on each.
 */
export function bearerChallenge(verdict: Exclude<TokenVerdict, 'valid'>): Record<string, string> {
  return { 'www-authenticate': verdict === 'invalid' ? 'Bearer error="invalid_token"' : 'Bearer' };
}

/** The native API's answer: 401 without a token or with a wrong one. */
export function nativeDenial(verdict: Exclude<TokenVerdict, 'valid'>): TernError {
  if (verdict === 'absent') {
    return new TernError(
      'unauthorized',
      'this call needs "Authorization: Bearer <token>": the node token (tern serve --token, TERN_TOKEN, or the file <data>/token)',
      bearerChallenge(verdict),
    );
  }
  return new TernError('unauthorized', 'the token is not valid for this node', bearerChallenge(verdict));
}

/** The access a matched route declared; `token` when it declared none. */
export function routeAccess(request: FastifyRequest): Access {
  return request.routeOptions.config.access ?? 'token';
}

export function installAccessControl(app: FastifyInstance, o: AccessOptions): void {
  const denied = o.denied ?? nativeDenial;
  app.decorateRequest('authenticated', false);
  app.addHook('onRequest', async (request) => {
    // No route matched: the not-found handler answers, and it reveals nothing.
    if (request.routeOptions.url === undefined) return;
    const verdict = o.credentials.check(request.headers.authorization);
    request.authenticated = verdict === 'valid';
    const access = routeAccess(request);
    if (access === 'token' && verdict !== 'valid' && !o.openManagement) throw denied(verdict);
  });
}

/**
 * Registers `register`'s routes with `access` where they declare none: for plugins that take no
 * route config of their own (@fastify/static serving the dashboard's files).
 */
export async function withAccess(
  app: FastifyInstance,
  access: Access,
  register: (scope: FastifyInstance) => Promise<void> | void,
): Promise<void> {
  await app.register(async (scope) => {
    scope.addHook('onRoute', (route) => {
      route.config = { ...route.config, access: route.config?.access ?? access };
    });
    await register(scope);
  });
}
