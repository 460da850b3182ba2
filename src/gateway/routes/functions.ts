/** /v1/functions: list, describe, deploy (archive upload), delete. */
import type { FastifyInstance } from 'fastify';
import { TernError } from '../../core/errors.js';
import { detectArchiveType } from '../../registry/archive.js';
import { NAME_PATTERN } from '../../registry/spec.js';
import { describeFunction, type GatewayDeps } from '../deps.js';

function checkName(name: string): string {
  if (!NAME_PATTERN.test(name))
    throw new TernError('bad_request', `invalid function name "${name}": use 1-63 characters of a-z, 0-9 and "-"`);
  return name;
}

export function functionRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  const { registry, scheduler } = deps;

  app.get('/v1/functions', async () => {
    const counts = await deps.callCounts?.();
    return { functions: registry.list().map((fn) => describeFunction(fn, scheduler, counts)) };
  });

  app.get<{ Params: { name: string } }>('/v1/functions/:name', async (request) => {
    const fn = registry.get(request.params.name);
    if (!fn) throw new TernError('not_found', `no function "${request.params.name}"`);
    return describeFunction(fn, scheduler, await deps.callCounts?.());
  });

  app.put<{ Params: { name: string } }>(
    '/v1/functions/:name',
    { bodyLimit: deps.limits.archiveBytes },
    async (request, reply) => {
      const name = checkName(request.params.name);
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      if (body.length === 0)
        throw new TernError(
          'bad_archive',
          'the body must be the function folder as .tar.gz (application/gzip) or .zip (application/zip)',
        );
      const type = detectArchiveType(request.headers['content-type'], body);
      if (!type) throw new TernError('bad_archive', 'the body is neither a gzip-compressed tar nor a zip archive');
      const outcome = await registry.deploy(name, body, type);
      await deps.settled(name);
      return reply.code(outcome.created ? 201 : 200).send(describeFunction(outcome.fn, scheduler));
    },
  );

  app.delete<{ Params: { name: string } }>('/v1/functions/:name', async (request, reply) => {
    const removed = await registry.remove(request.params.name);
    if (!removed) throw new TernError('not_found', `no function "${request.params.name}"`);
    await deps.settled(request.params.name);
    return reply.code(204).send();
  });
}
