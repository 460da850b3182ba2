/** Every error the HTTP server answers is the JSON shape of the native API. */
import type { FastifyError, FastifyInstance } from 'fastify';
import { ERROR_STATUS, errorBody, isTernError, type ErrorCode } from '../core/errors.js';

/** Fastify's own error codes mapped to Tern's. */
function codeForFastify(err: FastifyError): ErrorCode {
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

export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (isTernError(err)) {
      void reply.code(err.status).headers(err.headers).type('application/json').send(errorBody(err.code, err.message));
      return;
    }
    const code = codeForFastify(err);
    const status = code === 'internal' ? 500 : ERROR_STATUS[code];
    if (status >= 500) request.log.error({ err }, 'request failed');
    void reply.code(status).type('application/json').send(errorBody(code, status >= 500 ? 'internal error' : err.message));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).type('application/json').send(errorBody('not_found', `no route ${request.method} ${request.url.split('?')[0]}`));
  });
}
