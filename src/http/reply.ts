/**
 * Writing a Result (or an error) as an HTTP reply, one way for every path that answers calls:
 * the lean node:http path (`writeResult`, `writeError`: byte for byte what fastify's reply.send
 * writes) and fastify routes (`sendResult`). Hop-by-hop headers a function sets are dropped; the
 * execution report and the call id travel as X-Tern-Report and X-Tern-Call-Id.
 */
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Result } from '../core/result.js';
import { errorAnswer } from './errors.js';
import { HOP_BY_HOP } from './headers.js';

/** Token characters of RFC 9110, as fastify's ContentType checks type and subtype. */
const TOKEN = /^[\w!#$%&'*+.^`|~-]+$/;
const OCTET_STREAM = 'application/octet-stream';

/** fastify's test of a Content-Type value: `type/subtype` of token characters before any ";". */
export function isValidMediaType(value: string | number | readonly string[] | undefined): boolean {
  if (typeof value !== 'string') return false;
  const semi = value.indexOf(';');
  const media = semi === -1 ? value : value.slice(0, semi);
  const slash = media.indexOf('/');
  return slash !== -1 && TOKEN.test(media.slice(0, slash).trimStart()) && TOKEN.test(media.slice(slash + 1).trimEnd());
}

/** Status, headers and body as fastify's reply.send(buffer) writes them. */
export function send(res: ServerResponse, status: number, headers: OutgoingHttpHeaders, body: Buffer): void {
  try {
    // fastify's reply.code() refuses these before anything is written; its error handler answers 500.
    if (!(status >= 100 && status <= 599)) throw new RangeError(`invalid status code ${status}`);
    if (status < 200 || status === 204) {
      delete headers['content-type'];
      delete headers['content-length'];
      res.writeHead(status, headers).end();
      return;
    }
    if (!isValidMediaType(headers['content-type'])) headers['content-type'] = OCTET_STREAM;
    headers['content-length'] = String(body.length);
    res.writeHead(status, headers).end(body);
  } catch (e) {
    // A status or header node refuses (a function's bad header value): the answer is a 500, as with fastify.
    if (res.headersSent) res.destroy();
    else writeError(res, e);
  }
}

export function writeError(res: ServerResponse, err: unknown, closeConnection = false): void {
  const answer = errorAnswer(err);
  const headers: OutgoingHttpHeaders = closeConnection
    ? { connection: 'close', ...answer.headers }
    : { ...answer.headers };
  headers['content-type'] = 'application/json';
  send(res, answer.status, headers, answer.body);
}

export function writeResult(res: ServerResponse, result: Result, callId: string): void {
  const headers: OutgoingHttpHeaders = {};
  for (const key in result.headers) {
    const name = key.toLowerCase();
    if (!HOP_BY_HOP.has(name)) headers[name] = result.headers[key];
  }
  headers['x-tern-report'] = JSON.stringify(result.report);
  // The call id ties the reply to the function's log lines (`tern logs`).
  headers['x-tern-call-id'] = callId;
  send(res, result.status, headers, result.body);
}

export function sendResult(reply: FastifyReply, result: Result, callId?: string): FastifyReply {
  reply.code(result.status);
  for (const key in result.headers) {
    if (!HOP_BY_HOP.has(key)) reply.header(key, result.headers[key]);
  }
  reply.header('x-tern-report', JSON.stringify(result.report));
  // The call id ties the reply to the function's log lines (`tern logs`).
  if (callId) reply.header('x-tern-call-id', callId);
  return reply.send(result.body);
}
