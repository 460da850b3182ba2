/**
 * /system/logs?name=&namespace=&instance=&tail=&follow=&since= : newline-delimited JSON log
 * messages in faas-provider's shape {name, namespace, instance, timestamp, text}
 * (openfaas/faas-provider logs/logs.go). `follow` streams until the client goes or the function is removed.
 */
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { LogLine } from '../../core/logs.js';
import type { OpenfaasContext } from './context.js';
import { httpError } from './http-errors.js';
import { checkNamespace } from './namespace.js';

type Query = Record<string, string | string[] | undefined>;

interface LogRequest {
  name: string;
  namespace: string;
  instance: string;
  tail?: number;
  follow: boolean;
  since?: Date;
}

/** Go's url.Values.Get-like read used by faas-provider: the last value of a repeated key. */
function last(q: Query, key: string): string {
  const v = q[key];
  if (Array.isArray(v)) return v[v.length - 1] ?? '';
  return v ?? '';
}

/** strconv.ParseBool's true spellings; anything else is false, as faas-provider ignores the error. */
function parseBool(v: string): boolean {
  return ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);
}

const UNPARSABLE = () => httpError(422, 'could not parse the log request');

function parseLogRequest(q: Query): LogRequest {
  const req: LogRequest = {
    name: last(q, 'name'),
    namespace: checkNamespace(last(q, 'namespace')),
    instance: last(q, 'instance'),
    follow: parseBool(last(q, 'follow')),
  };
  const tail = last(q, 'tail');
  if (tail !== '') {
    if (!/^[+-]?\d+$/.test(tail)) throw UNPARSABLE();
    // tail <= 0 means no limit.
    if (Number(tail) > 0) req.tail = Math.min(Number(tail), 100_000);
  }
  const since = last(q, 'since');
  if (since !== '') {
    const date = new Date(since);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(since) || Number.isNaN(date.getTime())) throw UNPARSABLE();
    req.since = date;
  }
  return req;
}

function message(req: LogRequest, line: LogLine): string {
  return `${JSON.stringify({ name: req.name, namespace: req.namespace, instance: line.instance, timestamp: line.time, text: line.line })}\n`;
}

export function logsRoute(app: FastifyInstance, ctx: OpenfaasContext): void {
  const { registry, logs } = ctx.deps;
  // Followers end when the listener closes, so closing never waits on an endless stream.
  const following = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...following]) end();
  });
  app.get<{ Querystring: Query }>('/system/logs', async (request, reply) => {
    const req = parseLogRequest(request.query);
    if (!registry.get(req.name)) throw httpError(404, `function ${req.name}.${req.namespace} not found`);
    const wanted = (line: LogLine) => req.instance === '' || line.instance === req.instance;
    const lines = (
      await logs.read(req.name, {
        ...(req.since ? { since: req.since } : {}),
        ...(req.tail !== undefined ? { tail: req.tail } : {}),
      })
    ).filter(wanted);
    // Exactly faas-provider's type: a Buffer body keeps fastify from appending a charset.
    reply.header('content-type', 'application/x-ndjson');
    if (!req.follow) return reply.send(Buffer.from(lines.map((l) => message(req, l)).join('')));

    const stream = new PassThrough();
    for (const line of lines) stream.write(message(req, line));
    const unfollow = logs.follow(req.name, (line) => {
      if (wanted(line)) stream.write(message(req, line));
    });
    const unsubscribe = registry.subscribe((e) => {
      if (e.type === 'removed' && e.name === req.name) end();
    });
    let ended = false;
    function end(): void {
      if (ended) return;
      ended = true;
      following.delete(end);
      unfollow();
      unsubscribe();
      stream.end();
    }
    following.add(end);
    request.raw.once('close', end);
    reply.header('cache-control', 'no-cache').send(stream);
    // Headers out now, as faas-provider flushes them, so a client sees 200 before the first line.
    reply.raw.flushHeaders();
    return reply;
  });
}
