/**
 * The node-to-node routes, on the node's own HTTP server. They need the cluster secret (the
 * gateway leaves `/v1/cluster/` to them instead of asking for the management token).
 *
 *   POST /v1/cluster/invoke/{fn}      run a forwarded call here (it may be forwarded again)
 *   GET  /v1/cluster/archive/{name}   the archive of the version this node holds (?version=)
 */
import type { FastifyInstance } from 'fastify';
import { TernError } from '../core/errors.js';
import { createInvocation } from '../core/invocation.js';
import { NAME_PATTERN } from '../registry/spec.js';
import type { Scheduler } from '../scheduler/types.js';
import { ARCHIVE_ROUTE } from './archive-fetch.js';
import type { ArchiveStore } from './archive-store.js';
import { INVOKE_ROUTE, type Offloader } from './offload.js';
import type { ClusterSecret } from './secret.js';
import { decodeInvocation, encodeResult, parseRoute, RESULT_TYPE } from './wire.js';

export interface ClusterRouteDeps {
  nodeName: string;
  maxHops: number;
  bodyLimit: number;
  secret: ClusterSecret;
  scheduler: Pick<Scheduler, 'invoke'>;
  offloader: Offloader;
  archives: ArchiveStore;
}

/** Room for the frame's JSON part (headers, path, query) beyond the body limit. */
const FRAME_OVERHEAD = 1024 * 1024 + 4;

export function clusterRoutes(deps: ClusterRouteDeps): (app: FastifyInstance) => void {
  return (app) => {
    app.post<{ Params: { fn: string } }>(
      `${INVOKE_ROUTE}/:fn`,
      { bodyLimit: deps.bodyLimit + FRAME_OVERHEAD, config: { access: 'cluster' } },
      async (request, reply) => {
        deps.secret.require(request.headers);
        const { hops, path } = parseRoute(request.headers);
        if (hops > deps.maxHops)
          throw new TernError(
            'bad_request',
            `hop limit: the call has taken ${hops} hops, this node allows ${deps.maxHops}`,
          );
        if (path.includes(deps.nodeName))
          throw new TernError('conflict', `loop: the call has already been on ${deps.nodeName}`);
        const data = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const { meta, body } = decodeInvocation(data);
        if (body.length > deps.bodyLimit)
          throw new TernError(
            'too_large',
            `the body is ${body.length} bytes, over this node's limit of ${deps.bodyLimit}`,
          );
        const inv = createInvocation({
          function: request.params.fn,
          method: meta.method,
          path: meta.path,
          query: meta.query,
          headers: meta.headers,
          body,
          trigger: 'offload',
          id: meta.id,
          hops,
          depth: meta.depth,
          ...(meta.parent !== undefined ? { parent: meta.parent } : {}),
          // Trusted: the peer proved it holds the cluster secret above.
          authenticated: meta.authenticated === true,
        });
        const forget = deps.offloader.track(inv.id, path);
        try {
          const result = await deps.scheduler.invoke(inv);
          return reply.code(200).type(RESULT_TYPE).send(encodeResult(result));
        } finally {
          forget();
        }
      },
    );

    app.get<{ Params: { name: string }; Querystring: { version?: string } }>(
      `${ARCHIVE_ROUTE}/:name`,
      { config: { access: 'cluster' } },
      async (request, reply) => {
        deps.secret.require(request.headers);
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
  };
}
