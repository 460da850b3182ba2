/** HTTP status of a Result -> gRPC status code, as google.rpc.Code documents the pairing. */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Result } from '../../core/result.js';

const BY_HTTP: ReadonlyMap<number, GrpcStatus> = new Map([
  [400, GrpcStatus.INVALID_ARGUMENT],
  [401, GrpcStatus.UNAUTHENTICATED],
  [403, GrpcStatus.PERMISSION_DENIED],
  [404, GrpcStatus.NOT_FOUND],
  [405, GrpcStatus.UNIMPLEMENTED],
  [409, GrpcStatus.ABORTED],
  [413, GrpcStatus.RESOURCE_EXHAUSTED],
  [415, GrpcStatus.INVALID_ARGUMENT],
  [429, GrpcStatus.RESOURCE_EXHAUSTED],
  [499, GrpcStatus.CANCELLED],
  [500, GrpcStatus.INTERNAL],
  [501, GrpcStatus.UNIMPLEMENTED],
  [502, GrpcStatus.UNKNOWN],
  [503, GrpcStatus.UNAVAILABLE],
  [504, GrpcStatus.DEADLINE_EXCEEDED],
]);

export function grpcStatusOf(httpStatus: number): GrpcStatus {
  if (httpStatus >= 200 && httpStatus < 300) return GrpcStatus.OK;
  const exact = BY_HTTP.get(httpStatus);
  if (exact !== undefined) return exact;
  if (httpStatus >= 400 && httpStatus < 500) return GrpcStatus.FAILED_PRECONDITION;
  return httpStatus >= 500 ? GrpcStatus.INTERNAL : GrpcStatus.UNKNOWN;
}

const MAX_DETAILS = 1024;

/** The message for a failed call: Tern's {"error":{message}} body, else the function's own text. */
export function errorDetails(result: Result): string {
  const text = result.body.toString('utf8');
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && 'error' in parsed) {
      const error: unknown = parsed.error;
      if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string')
        return error.message;
    }
  } catch {
    // not JSON: the function's own error text
  }
  const trimmed = text.trim();
  return trimmed === '' ? `function returned HTTP ${result.status}` : trimmed.slice(0, MAX_DETAILS);
}
