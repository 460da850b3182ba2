/** Every error the HTTP server answers is the JSON shape of the native API. */
import type { FastifyError, FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ERROR_STATUS, errorBody, isTernError, type ErrorCode } from '../core/errors.js';

/** Fastify's own error codes mapped to Tern's. */
function codeForFastify(err: Partial<FastifyError>): ErrorCode {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return 'too_large';
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'unsupported_media_type';
    default: {
      const status = err.statusCode ?? 500;
      const match = (Object.keys(ERROR_STATUS) as ErrorCode[]).find((c) => ERROR_STATUS[c] === status);
      return status >= 500 ? 'internal' : (match ?? 'bad_request');
    }
  }
}

/** How to answer an error thrown while serving a request: a TernError as it says, fastify's by their code, anything else 500. */
export interface ErrorAnswer {
  status: number;
  /** Extra headers (Retry-After, WWW-Authenticate); the body is always application/json. */
  headers: Record<string, string>;
  body: Buffer;
  /** A server fault (500): worth a log line. */
  internal: boolean;
}

export function errorAnswer(err: unknown): ErrorAnswer {
  if (isTernError(err))
    return { status: err.status, headers: err.headers, body: errorBody(err.code, err.message), internal: false };
  const fault = typeof err === 'object' && err !== null ? (err as Partial<FastifyError>) : {};
  const code = codeForFastify(fault);
  const status = code === 'internal' ? 500 : ERROR_STATUS[code];
  const message = status >= 500 ? 'internal error' : (fault.message ?? String(err));
  return { status, headers: {}, body: errorBody(code, message), internal: status >= 500 };
}

/** Where server faults are written: the node's logger (tests may leave it out). */
export type FaultLogger = Pick<Logger, 'error' | 'warn'>;

/**
 * One log line for every 5xx answer, with its cause: a fault of ours (500) at error with the
 * stack, an expected refusal (a crashed function, no capacity, a timeout) at warn.
 */
export function logFault(
  logger: FaultLogger | undefined,
  err: unknown,
  request: { method?: string | undefined; url?: string | undefined },
): void {
  if (logger === undefined) return;
  const answer = errorAnswer(err);
  if (answer.status < 500) return;
  const method = request.method ?? '?';
  const path = (request.url ?? '').split('?')[0];
  const fields = { event: 'http_error', status: answer.status, method, path };
  if (answer.internal) {
    logger.error(
      { ...fields, err },
      `${method} ${path}: ${answer.status} ${(err as Error | undefined)?.message ?? String(err)}`,
    );
  } else {
    const code = isTernError(err) ? err.code : 'error';
    logger.warn({ ...fields, code }, `${method} ${path}: ${answer.status} ${code}: ${(err as Error).message}`);
  }
}

export function installErrorHandlers(app: FastifyInstance, logger?: FaultLogger): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const answer = errorAnswer(err);
    logFault(logger, err, request);
    void reply.code(answer.status).headers(answer.headers).type('application/json').send(answer.body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .code(404)
      .type('application/json')
      .send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}`));
  });
}
