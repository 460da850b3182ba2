/**
 * The queue worker's callback (openfaas/nats-queue-worker main.go, postResult): when an async call
 * has finished, POST its body to X-Callback-Url with the function's response headers plus
 * X-Call-Id, X-Function-Status, X-Function-Name and X-Duration-Seconds. One attempt, no retry,
 * redirects followed; the URL is the caller's to choose, as in OpenFaaS.
 */
import type { Logger } from 'pino';
import type { Result } from '../../core/result.js';
import { HOP_BY_HOP } from '../../http/headers.js';
import { headerText } from '../../core/headers.js';

/** The worker's HTTP client gives up connecting after 30 s; bound the whole post the same. */
export const CALLBACK_TIMEOUT_MS = 30_000;

export interface CallbackJob {
  url: URL;
  callId: string;
  functionName: string;
  result: Result;
  /** Seconds from acceptance to result. */
  seconds: number;
}

export function callbackHeaders(job: CallbackJob): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const key in job.result.headers) {
    if (!HOP_BY_HOP.has(key)) headers[key] = headerText(job.result.headers, key)!;
  }
  headers['x-duration-seconds'] = job.seconds.toFixed(6);
  headers['x-function-status'] = String(job.result.status);
  headers['x-function-name'] = job.functionName;
  headers['x-call-id'] = job.callId;
  return headers;
}

/** Resolves once the post is done or has failed (failures are logged, as the worker does). */
export async function postCallback(job: CallbackJob, logger: Logger): Promise<void> {
  try {
    const res = await fetch(job.url, {
      method: 'POST',
      headers: callbackHeaders(job),
      body: job.result.body,
      signal: AbortSignal.timeout(CALLBACK_TIMEOUT_MS),
    });
    await res.arrayBuffer().catch(() => undefined);
    logger.debug(
      { event: 'openfaas_callback', call: job.callId, url: job.url.href, status: res.status },
      'posted async result',
    );
  } catch (e) {
    logger.warn(
      { event: 'openfaas_callback_failed', call: job.callId, url: job.url.href, err: (e as Error).message },
      `cannot post the result of call ${job.callId} to ${job.url.href}`,
    );
  }
}
