import type { ResponseHeaders } from './headers.js';
import type { Report } from './report.js';
import { errorBody, type TernError } from './errors.js';

/** What a runtime returns for one call: the function's own response. */
export interface Response {
  status: number;
  /** Header names lower-cased. */
  headers: ResponseHeaders;
  body: Buffer;
}

/** The result of an invocation: the response plus its execution report. Errors are results too. */
export interface Result extends Response {
  report: Report;
}

/** A Result for a failed call: JSON error body, the error's status and headers, report.error set. */
export function errorResult(err: TernError, report: Report): Result {
  return {
    status: err.status,
    headers: { 'content-type': 'application/json', ...err.headers },
    body: errorBody(err.code, err.message),
    report: { ...report, error: err.code },
  };
}
