/**
 * The lean path of the HTTP trigger: a node:http request listener that answers `/fn/…` and
 * `/async/fn/…` itself, in front of fastify. fastify's per-request work (routing, hooks,
 * request/reply objects, content-type parsing) takes a hello server from ~42k to ~34k req/s on
 * the bench machine; on the invocation path that is a cost every call pays for nothing.
 *
 * It answers exactly as the fastify routes (routes.ts) and error handler (gateway/errors.ts) do:
 * same status, headers and JSON errors, the same body limit (413 + `connection: close`), the body
 * ignored for GET and HEAD. Whatever it is not sure to treat the same — another method, a "%" in
 * the path, a name over the router's parameter limit, a content type fastify would question, a
 * server that is closing (fastify's 503) — it declines, and the caller hands the request to fastify.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { TernError } from '../../core/errors.js';
import type { NodeCredentials } from '../../http/credentials.js';
import { logFault, type FaultLogger } from '../../http/errors.js';
import { isValidMediaType, send, writeError, writeResult } from '../../http/reply.js';
import type { RequestFilter } from '../../http/listener.js';
import {
  ASYNC_PREFIX,
  METHODS,
  SYNC_PREFIX,
  invocationFrom,
  type HttpInvoker,
  type HttpRequestParts,
} from './invoke.js';

export interface FastPathOptions {
  bodyLimit: number;
  /** fastify's router `maxParamLength`: a longer function name is left to the router (414). */
  maxNameLength: number;
  /** True once the server is closing: fastify answers 503 from then on. */
  closing: () => boolean;
  /** The one token check (private functions run only for calls that carry the token). */
  credentials: NodeCredentials;
  /** Where 5xx answers are logged with their cause. */
  logger?: FaultLogger;
}

const SERVED: ReadonlySet<string> = new Set(METHODS);

/**
 * Reads the whole body, at most `limit` bytes, as fastify's raw body parser does: a declared
 * length over the limit fails at once, a stream that grows past it fails when it does.
 */
function readBody(req: IncomingMessage, limit: number, done: (err: TernError | undefined, body: Buffer) => void): void {
  const declared = req.headers['content-length'];
  const expected = declared === undefined ? NaN : Number(declared);
  if (expected > limit) {
    done(new TernError('too_large', 'Request body is too large'), Buffer.alloc(0));
    return;
  }
  const chunks: Buffer[] = [];
  let received = 0;
  const cleanup = () => {
    req.removeListener('data', onData);
    req.removeListener('end', onEnd);
    req.removeListener('error', onError);
  };
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limit) {
      cleanup();
      done(new TernError('too_large', 'Request body is too large'), Buffer.alloc(0));
      return;
    }
    chunks.push(chunk);
  };
  const onEnd = () => {
    cleanup();
    if (!Number.isNaN(expected) && received !== expected)
      done(new TernError('bad_request', 'Request body size did not match Content-Length'), Buffer.alloc(0));
    else done(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
  };
  const onError = (e: Error) => {
    cleanup();
    done(new TernError('bad_request', e.message), Buffer.alloc(0));
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
  req.resume();
}

export function createFastPath(invoker: HttpInvoker, o: FastPathOptions): RequestFilter {
  const fail = (req: IncomingMessage, res: ServerResponse, e: unknown, closeConnection = false) => {
    logFault(o.logger, e, req);
    writeError(res, e, closeConnection);
  };
  const sync = (req: IncomingMessage, res: ServerResponse, parts: HttpRequestParts) => {
    const inv = invocationFrom(parts, SYNC_PREFIX, 'http');
    invoker.sync(inv).then(
      (result) => writeResult(res, result, inv.id),
      (e: unknown) => fail(req, res, e),
    );
  };
  const submit = (req: IncomingMessage, res: ServerResponse, parts: HttpRequestParts) => {
    const inv = invocationFrom(parts, ASYNC_PREFIX, 'async');
    invoker.submit(inv).then(
      (record) =>
        send(
          res,
          202,
          { location: `/v1/calls/${record.id}`, 'content-type': 'application/json; charset=utf-8' },
          Buffer.from(JSON.stringify({ id: record.id })),
        ),
      (e: unknown) => fail(req, res, e),
    );
  };
  const call = (req: IncomingMessage, res: ServerResponse, parts: HttpRequestParts, isSync: boolean) => {
    try {
      if (isSync) sync(req, res, parts);
      else submit(req, res, parts);
    } catch (e) {
      // A broken invocation (an undecodable name) throws before any call starts.
      fail(req, res, e);
    }
  };

  return (req, res) => {
    const url = req.url ?? '';
    const isSync = url.startsWith(SYNC_PREFIX);
    if (!isSync && !url.startsWith(ASYNC_PREFIX)) return false;
    const method = req.method ?? '';
    if (!SERVED.has(method) || o.closing()) return false;
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path.includes('%')) return false;
    const start = isSync ? SYNC_PREFIX.length : ASYNC_PREFIX.length;
    const slash = path.indexOf('/', start);
    if ((slash === -1 ? path.length : slash) - start > o.maxNameLength) return false;

    const headers = req.headers;
    const authenticated = o.credentials.check(headers.authorization) === 'valid';
    // fastify reads no body for GET and HEAD, and none when nothing announces one.
    const contentType = headers['content-type'];
    const bodyless =
      method === 'GET' ||
      method === 'HEAD' ||
      (contentType === undefined &&
        headers['transfer-encoding'] === undefined &&
        (headers['content-length'] === undefined || headers['content-length'] === '0'));
    if (bodyless) {
      call(req, res, { method, url, headers, body: undefined, authenticated }, isSync);
      return true;
    }
    // fastify answers 415 to a malformed content type: let it.
    if (contentType !== undefined && !isValidMediaType(contentType)) return false;
    readBody(req, o.bodyLimit, (err, body) => {
      // The client may still be sending: close the connection after the answer, as fastify does.
      if (err) fail(req, res, err, true);
      else call(req, res, { method, url, headers, body, authenticated }, isSync);
    });
    return true;
  };
}
