/**
 * The node:http server under every fastify instance Tern runs (the native API and each compat
 * listener): it makes the request target origin-form first, then offers the request to an
 * optional lean filter (the HTTP trigger's fast path) before fastify routes it.
 */
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { errorAnswer } from './errors.js';
import { originForm } from './target.js';

/** Handles the request and returns true, or returns false having touched nothing. */
export type RequestFilter = (req: IncomingMessage, res: ServerResponse) => boolean;

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' ? value : fallback;
}

/** Makes the target origin-form in place; false (the 400 written) when it is neither form. */
export function normaliseTarget(req: IncomingMessage, res: ServerResponse): boolean {
  const target = req.url ?? '/';
  if (target.charCodeAt(0) === 47 /* "/" */) return true;
  try {
    req.url = originForm(target);
    return true;
  } catch (e) {
    const answer = errorAnswer(e);
    res.writeHead(answer.status, { ...answer.headers, 'content-type': 'application/json', connection: 'close' });
    res.end(answer.body);
    return false;
  }
}

/**
 * A fastify `serverFactory`: the server fastify would make itself (same timeouts), with the
 * target normalised and `first` in front of fastify's handler.
 */
export function edgeServerFactory(first?: RequestFilter) {
  return (fastifyHandler: RequestListener, opts: Record<string, unknown>): Server => {
    const server = createServer((req, res) => {
      if (!normaliseTarget(req, res)) return;
      if (first === undefined || !first(req, res)) fastifyHandler(req, res);
    });
    server.keepAliveTimeout = numberOr(opts['keepAliveTimeout'], server.keepAliveTimeout);
    server.requestTimeout = numberOr(opts['requestTimeout'], server.requestTimeout);
    server.setTimeout(numberOr(opts['connectionTimeout'], 0));
    const perSocket = numberOr(opts['maxRequestsPerSocket'], 0);
    if (perSocket > 0) server.maxRequestsPerSocket = perSocket;
    return server;
  };
}
