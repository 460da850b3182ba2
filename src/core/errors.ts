/**
 * Every error a caller can see: a stable code and the HTTP status it maps to.
 * Triggers map the status to their protocol (CoAP codes, gRPC status).
 */
export const ERROR_STATUS = {
  bad_request: 400,
  bad_spec: 400,
  bad_archive: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  too_large: 413,
  unsupported_media_type: 415,
  queue_full: 429,
  internal: 500,
  function_crashed: 502,
  function_error: 502,
  workflow_failed: 502,
  memory_exceeded: 502,
  no_capacity: 503,
  queue_timeout: 503,
  unavailable: 503,
  timeout: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class TernError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra headers the reply should carry (e.g. Retry-After). */
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'TernError';
    this.code = code;
    this.status = ERROR_STATUS[code];
    this.headers = headers;
  }
}

export function isTernError(e: unknown): e is TernError {
  return e instanceof TernError;
}

/** The JSON error body of the native API: {"error": {"code", "message"}}. */
export function errorBody(code: string, message: string): Buffer {
  return Buffer.from(JSON.stringify({ error: { code, message } }));
}

/** Any thrown value as a TernError (unknown errors become 500 internal). */
export function asTernError(e: unknown): TernError {
  if (e instanceof TernError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new TernError('internal', message);
}
