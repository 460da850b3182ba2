/**
 * Images by name on this node (FaaSEdge Core's flow: import, then deploy by name): management
 * routes, token access. `PUT /v1/images/{name}` (or `POST /v1/images`, named as the archive names it) takes an oci-archive or docker-archive (plain or
 * gzip tar) streamed to disk with a bound; names may hold "/" ("ghcr.io/me/fn:1.0"), raw or %2F.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TernError } from '../../core/errors.js';
import { requireRef } from './image-ref.js';
import type { ImageStore, NamedImage } from './image-store.js';

export interface ImageRouteDeps {
  images: ImageStore;
  /** Largest archive accepted, bytes. */
  maxBytes: number;
}

const TOKEN = { access: 'token' } as const;

function nameOf(request: FastifyRequest): string {
  const raw = (request.params as { '*'?: string })['*'] ?? '';
  return requireRef(decodeURIComponent(raw), 'image name');
}

function describe(n: NamedImage): object {
  return {
    name: n.name,
    digest: n.configDigest,
    chain: n.chain,
    importedAt: n.importedAt,
    entrypoint: n.run.entrypoint,
    cmd: n.run.cmd,
    workingDir: n.run.workingDir,
  };
}

/** Copy the request body to `file`, refusing more than `max` bytes. */
async function receive(body: Readable, file: string, max: number): Promise<void> {
  let size = 0;
  await pipeline(
    body,
    async function* (source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > max) throw new TernError('too_large', `the image archive is over the limit of ${max} bytes`);
        yield chunk;
      }
    },
    createWriteStream(file, { mode: 0o600 }),
  );
  if (size === 0)
    throw new TernError('bad_archive', 'the body must be an oci-archive or docker-archive (a tar, or a gzip tar)');
}

export function imageRoutes(deps: ImageRouteDeps): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    await app.register(async (scope) => {
      // The archive streams to disk: it may be far larger than any body kept in memory.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

      scope.get('/v1/images', { config: TOKEN }, async () => ({ images: (await deps.images.list()).map(describe) }));

      scope.get('/v1/images/*', { config: TOKEN }, async (request) => {
        const name = nameOf(request);
        await deps.images.open();
        const found = deps.images.get(name);
        if (!found) throw new TernError('not_found', `no image "${name}" on this node`);
        return describe(found);
      });

      const upload = async (request: FastifyRequest, name: string | undefined) => {
        const declared = Number(request.headers['content-length'] ?? 0);
        if (declared > deps.maxBytes)
          throw new TernError('too_large', `the image archive is over the limit of ${deps.maxBytes} bytes`);
        const dir = join(deps.images.dir, 'uploads');
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const file = join(dir, `${randomBytes(8).toString('hex')}.tar`);
        try {
          await receive(request.body as Readable, file, deps.maxBytes);
          return await deps.images.importArchive(file, name);
        } finally {
          await rm(file, { force: true });
        }
      };

      // Under the name the archive carries (OCI index annotation, docker-archive RepoTags).
      scope.post('/v1/images', { config: TOKEN }, async (request, reply) =>
        reply.code(201).send(describe(await upload(request, undefined))),
      );

      scope.put('/v1/images/*', { config: TOKEN }, async (request, reply) => {
        const name = nameOf(request);
        const existed = deps.images.get(name) !== undefined;
        return reply.code(existed ? 200 : 201).send(describe(await upload(request, name)));
      });

      scope.delete('/v1/images/*', { config: TOKEN }, async (request, reply) => {
        const name = nameOf(request);
        if (!(await deps.images.remove(name))) throw new TernError('not_found', `no image "${name}" on this node`);
        return reply.code(204).send();
      });
    });
  };
}
