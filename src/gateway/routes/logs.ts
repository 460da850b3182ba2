/** /v1/functions/{name}/logs: captured stdout/stderr; `follow=1` streams NDJSON. */
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { TernError } from '../../core/errors.js';
import type { GatewayDeps, LogLine } from '../deps.js';

const MAX_BUFFERED_BYTES = 1024 * 1024;

interface LogQuery {
  since?: string;
  tail?: string;
  follow?: string;
}

function parseQuery(q: LogQuery): { since?: Date; tail?: number; follow: boolean } {
  const out: { since?: Date; tail?: number; follow: boolean } = { follow: q.follow === '1' || q.follow === 'true' };
  if (q.since !== undefined) {
    const since = new Date(q.since);
    if (Number.isNaN(since.getTime()))
      throw new TernError('bad_request', `since: not a date: "${q.since}" (use ISO 8601)`);
    out.since = since;
  }
  if (q.tail !== undefined) {
    const tail = Number(q.tail);
    if (!Number.isInteger(tail) || tail < 0 || tail > 100_000)
      throw new TernError('bad_request', `tail: must be an integer 0..100000, got "${q.tail}"`);
    out.tail = tail;
  }
  return out;
}

export function logRoutes(app: FastifyInstance, deps: GatewayDeps): void {
  app.get<{ Params: { name: string }; Querystring: LogQuery }>('/v1/functions/:name/logs', async (request, reply) => {
    const { name } = request.params;
    if (!deps.registry.get(name)) throw new TernError('not_found', `no function "${name}"`);
    const q = parseQuery(request.query);
    const lines = await deps.logs.read(name, {
      ...(q.since ? { since: q.since } : {}),
      ...(q.tail !== undefined ? { tail: q.tail } : {}),
    });
    if (!q.follow) return { lines };

    const stream = new PassThrough();
    let unfollow = () => {};
    const end = () => {
      unfollow();
      stream.end();
    };
    const write = (entry: LogLine) => {
      // A follower that stops reading is cut off rather than buffered without bound.
      if (stream.writableLength > MAX_BUFFERED_BYTES) end();
      else if (!stream.writableEnded) stream.write(`${JSON.stringify(entry)}\n`);
    };
    for (const entry of lines) write(entry);
    unfollow = deps.logs.follow(name, write);
    request.raw.once('close', end);
    // A removed function ends its followers rather than leaving them hanging.
    const unsubscribe = deps.registry.subscribe((e) => {
      if (e.type === 'removed' && e.name === name) end();
    });
    stream.once('close', unsubscribe);
    reply.type('application/x-ndjson').header('cache-control', 'no-cache').send(stream);
    // Send the headers now: a follower must see the response start before the first line.
    reply.raw.flushHeaders();
    return reply;
  });
}
