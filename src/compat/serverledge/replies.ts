/** Serverledge's reply shapes: echo's JSON and plain-text replies, and its error codes. */
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { isTernError } from '../../core/errors.js';
import type { Result } from '../../core/result.js';

export function sendText(reply: FastifyReply, status: number, text: string): FastifyReply {
  return reply.code(status).type('text/plain; charset=UTF-8').send(text);
}

/** echo's c.JSON: compact JSON and a newline. */
export function sendJson(reply: FastifyReply, status: number, value: unknown): FastifyReply {
  return reply
    .code(status)
    .type('application/json; charset=UTF-8')
    .send(`${JSON.stringify(value)}\n`);
}

const ROUTES = new Set([
  '/create',
  '/update',
  '/delete',
  '/function',
  '/prewarm',
  '/status',
  '/workflow/create',
  '/workflow/import',
  '/workflow/delete',
  '/workflow/list',
]);

/** Errors as text with Tern's status (in the profile's own scope). */
export function installServerledgeErrors(app: FastifyInstance, logger: Logger): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (isTernError(err)) {
      void reply.headers(err.headers);
      return sendText(reply, err.status, err.message);
    }
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    if (status === 500)
      logger.error({ event: 'serverledge_error', err, url: request.url }, 'Serverledge API request failed');
    return sendText(reply, status, status === 500 ? 'internal error' : err.message);
  });
}

/** Unmatched requests as echo answers them: 405 on a known path, else 404. */
export function notFoundRoute(app: FastifyInstance): void {
  app.all('/*', { config: { access: 'public' } }, async (request, reply) => {
    const path = request.url.split('?')[0]!;
    const known = ROUTES.has(path) || /^\/(invoke|poll|workflow\/invoke|workflow\/resume)\/[^/]+$/.test(path);
    return known
      ? sendJson(reply, 405, { message: 'Method Not Allowed' })
      : sendJson(reply, 404, { message: 'Not Found' });
  });
}

/** The code and message of a failed call's result (Tern's JSON error body). */
export function failureOf(result: Result): { code: string; message: string } {
  const code = result.report.error ?? 'function_error';
  try {
    const parsed = JSON.parse(result.body.toString('utf8')) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') return { code, message: parsed.error.message };
  } catch {
    // The function's own error body: pass it on as it is.
  }
  return { code, message: result.body.toString('utf8') || `the function answered ${result.status}` };
}

/** Serverledge answers 429 when it has no resources for a call, 404 for an unknown function, 500 otherwise. */
export function failureStatus(code: string): number {
  if (code === 'queue_full' || code === 'no_capacity' || code === 'queue_timeout') return 429;
  if (code === 'not_found') return 404;
  if (code === 'unauthorized') return 401;
  if (code === 'forbidden') return 403;
  return 500;
}
