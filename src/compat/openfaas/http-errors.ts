/**
 * OpenFaaS answers errors the way Go's net/http does: a plain-text body (`http.Error` adds a
 * newline), no JSON. faas-cli prints that text to the user, so the adapter keeps the shape.
 */
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { isTernError } from '../../core/errors.js';

export class OpenfaasError extends Error {
  constructor(
    readonly status: number,
    /** The exact body sent. */
    readonly body: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(body.trimEnd());
    this.name = 'OpenfaasError';
  }
}

/** `http.Error(w, msg, status)`: the message plus a newline. */
export function httpError(status: number, message: string, headers: Record<string, string> = {}): OpenfaasError {
  return new OpenfaasError(status, `${message}\n`, headers);
}

export function sendText(
  reply: FastifyReply,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): FastifyReply {
  return reply
    .code(status)
    .headers(headers)
    .header('content-type', 'text/plain; charset=utf-8')
    .header('x-content-type-options', 'nosniff')
    .send(body);
}

/** Errors of this scope (the profile's routes) as OpenFaaS text; internal errors are logged, not shown. */
export function installOpenfaasErrors(scope: FastifyInstance, log: (err: unknown) => void): void {
  scope.setErrorHandler((err: FastifyError | OpenfaasError, _request, reply) => {
    if (err instanceof OpenfaasError) return sendText(reply, err.status, err.body, err.headers);
    if (isTernError(err)) return sendText(reply, err.status, `${err.message}\n`, err.headers);
    const status = err.statusCode ?? 500;
    if (status >= 500) {
      log(err);
      return sendText(reply, 500, 'internal error\n');
    }
    return sendText(reply, status, `${err.message}\n`);
  });
}
