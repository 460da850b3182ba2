/**
 * The node-to-node routes, on the node's own HTTP server, in their own fastify scope. Each declares
 * `access: 'cluster'` (the node's token hook leaves it alone) and the scope's hooks check the
 * signed envelope of request-auth.ts on the route the router matched: onRequest the signature,
 * address, time and nonce (before the body is read), preHandler the body's digest, onSend signs the
 * answer.
 *
 *   POST /v1/cluster/invoke/{fn}      run a forwarded call here (it may be forwarded again)
 *   GET  /v1/cluster/archive/{name}   the archive of the version this node holds (?version=)
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TernError } from '../core/errors.js';
import { createInvocation } from '../core/invocation.js';
import type { Registry } from '../registry/registry.js';
import { NAME_PATTERN } from '../registry/spec.js';
import type { Scheduler } from '../scheduler/types.js';
import { ARCHIVE_ROUTE } from './archive-fetch.js';
import type { ArchiveStore } from './archive-store.js';
import { INVOKE_ROUTE, type Offloader } from './offload.js';
import { functionHeaders, SIGNATURE_HEADER, type RequestVerifier, type VerifiedRequest } from './request-auth.js';
import { decodeInvocation, encodeResult, parseRoute, RESULT_TYPE, type InvocationMeta } from './wire.js';

export interface ClusterRouteDeps {
  nodeName: string;
  maxHops: number;
  bodyLimit: number;
  verifier: RequestVerifier;
  scheduler: Pick<Scheduler, 'invoke'>;
  registry: Pick<Registry, 'get'>;
  offloader: Offloader;
  archives: ArchiveStore;
}

/** Room for the frame's JSON part (headers, path, query) beyond the body limit. */
const FRAME_OVERHEAD = 1024 * 1024 + 4;
const CLUSTER_ROUTE = { access: 'cluster' } as const;

export function clusterRoutes(deps: ClusterRouteDeps): (app: FastifyInstance) => void {
  return (app) => {
    void app.register(async (scope) => {
      const envelope = guardScope(scope, deps.verifier);
      invokeRoute(scope, deps, envelope);
      archiveRoute(scope, deps);
    });
  };
}

/**
 * The path as routed: the matched route's pattern with its parameters (decoded by the router)
 * encoded again, and the raw query. Another spelling of the same path signs the same.
 */
export function routedTarget(request: FastifyRequest): string {
  const params = (request.params ?? {}) as Record<string, string | undefined>;
  const pattern = request.routeOptions.url ?? '';
  const path = pattern.replace(/:(\w+)/g, (_, key: string) => encodeURIComponent(params[key] ?? ''));
  const q = request.url.indexOf('?');
  return q === -1 ? path : `${path}${request.url.slice(q)}`;
}

/** Every route of `scope` needs a valid signed envelope; returns the verified envelope of a request. */
function guardScope(scope: FastifyInstance, verifier: RequestVerifier): (r: FastifyRequest) => VerifiedRequest {
  const verified = new WeakMap<FastifyRequest, VerifiedRequest>();
  scope.addHook('onRequest', async (request) => {
    verified.set(request, verifier.verify(request.method, routedTarget(request), request.headers));
  });
  scope.addHook('preHandler', async (request) => {
    const envelope = verified.get(request);
    if (!envelope) throw new TernError('unauthorized', 'node-to-node calls must be signed');
    verifier.checkBody(envelope, Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));
  });
  scope.addHook('onSend', async (request, reply, payload) => {
    const envelope = verified.get(request);
    const body = Buffer.isBuffer(payload) ? payload : typeof payload === 'string' ? Buffer.from(payload) : undefined;
    if (envelope && body) void reply.header(SIGNATURE_HEADER, verifier.signResponse(envelope, reply.statusCode, body));
    return payload;
  });
  return (request) => {
    const envelope = verified.get(request);
    if (!envelope) throw new TernError('unauthorized', 'node-to-node calls must be signed');
    return envelope;
  };
}

function invokeRoute(
  scope: FastifyInstance,
  deps: ClusterRouteDeps,
  envelope: (r: FastifyRequest) => VerifiedRequest,
): void {
  scope.post<{ Params: { fn: string } }>(
    `${INVOKE_ROUTE}/:fn`,
    { bodyLimit: deps.bodyLimit + FRAME_OVERHEAD, config: CLUSTER_ROUTE },
    async (request, reply) => {
      const { hops, path } = parseRoute(request.headers);
      if (hops > deps.maxHops)
        throw new TernError(
          'bad_request',
          `hop limit: the call has taken ${hops} hops, this node allows ${deps.maxHops}`,
        );
      if (path.includes(deps.nodeName))
        throw new TernError('conflict', `loop: the call has already been on ${deps.nodeName}`);
      const { meta, body } = decodeInvocation(Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));
      if (body.length > deps.bodyLimit)
        throw new TernError(
          'too_large',
          `the body is ${body.length} bytes, over this node's limit of ${deps.bodyLimit}`,
        );
      const fn = request.params.fn;
      const isPrivate = deps.registry.get(fn)?.spec.private === true;
      // The scheduler refuses a private function unless the forwarding node vouched, in the signed envelope.
      const inv = forwardedInvocation(fn, meta, body, hops, isPrivate, envelope(request).authenticated);
      const forget = deps.offloader.track(inv.id, path);
      try {
        const result = await deps.scheduler.invoke(inv);
        return reply.code(200).type(RESULT_TYPE).send(encodeResult(result));
      } finally {
        forget();
      }
    },
  );
}

function forwardedInvocation(
  fn: string,
  meta: InvocationMeta,
  body: Buffer,
  hops: number,
  isPrivate: boolean,
  authenticated: boolean,
) {
  return createInvocation({
    function: fn,
    method: meta.method,
    path: meta.path,
    query: meta.query,
    headers: functionHeaders(meta.headers, isPrivate),
    body,
    trigger: 'offload',
    id: meta.id,
    hops,
    depth: meta.depth,
    ...(meta.parent !== undefined ? { parent: meta.parent } : {}),
    authenticated,
  });
}

function archiveRoute(scope: FastifyInstance, deps: ClusterRouteDeps): void {
  scope.get<{ Params: { name: string }; Querystring: { version?: string } }>(
    `${ARCHIVE_ROUTE}/:name`,
    { config: CLUSTER_ROUTE },
    async (request, reply) => {
      const version = typeof request.query.version === 'string' ? request.query.version : undefined;
      if (!NAME_PATTERN.test(request.params.name))
        throw new TernError('bad_request', `invalid function name ${JSON.stringify(request.params.name)}`);
      if (version !== undefined && !/^[0-9a-f]{16}$/.test(version))
        throw new TernError('bad_request', 'version must be 16 hex digits');
      const held = await deps.archives.read(request.params.name, version);
      if (!held)
        throw new TernError(
          'not_found',
          `this node holds no archive of "${request.params.name}"${version ? ` version ${version}` : ''}`,
        );
      return reply
        .code(200)
        .type(held.meta.type === 'zip' ? 'application/zip' : 'application/gzip')
        .header('x-tern-version', held.meta.version)
        .header('x-tern-sha256', held.meta.sha256)
        .send(held.data);
    },
  );
}
