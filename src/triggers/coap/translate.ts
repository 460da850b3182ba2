/** CoAP request options -> Invocation fields, and Result -> CoAP response code and options. */
import type { Option } from 'coap-packet';
import type { Result } from '../../core/result.js';
import { coapCodeOf, contentFormatOf, contentTypeOf, retryAfterSeconds } from './codes.js';
import { allOptions, decodeUint, encodeUint, firstOption, option, OPT, type WireOption } from './wire.js';
import { headerText } from '../../core/headers.js';

export function uriPath(options: WireOption[]): string[] {
  return allOptions(options, OPT.uriPath).map((v) => v.toString('utf8'));
}

/** Uri-Query options are decoded text; re-encode each so the function sees an HTTP-style raw query. */
export function rawQuery(options: WireOption[]): string {
  return allOptions(options, OPT.uriQuery)
    .map((v) => {
      const text = v.toString('utf8');
      const eq = text.indexOf('=');
      return eq === -1
        ? encodeURIComponent(text)
        : `${encodeURIComponent(text.slice(0, eq))}=${encodeURIComponent(text.slice(eq + 1))}`;
    })
    .join('&');
}

export function rawPath(segments: readonly string[]): string {
  return `/${segments.map(encodeURIComponent).join('/')}`;
}

/** Content-Format and Accept as HTTP headers; numbers without a media type pass as x-coap-* headers. */
export function requestHeaders(options: WireOption[]): Record<string, string> {
  const headers: Record<string, string> = {};
  const format = firstOption(options, OPT.contentFormat);
  if (format !== undefined) {
    const n = decodeUint(format);
    const type = contentTypeOf(n);
    if (type !== undefined) headers['content-type'] = type;
    else headers['x-coap-content-format'] = String(n);
  }
  const accept = firstOption(options, OPT.accept);
  if (accept !== undefined) {
    const n = decodeUint(accept);
    const type = contentTypeOf(n);
    if (type !== undefined) headers.accept = type;
    else headers['x-coap-accept'] = String(n);
  }
  return headers;
}

export interface ResponseHead {
  code: string;
  options: Option[];
}

/** Response code and the options that describe the body (not block-wise ones). */
export function responseHead(result: Result, method: string, withReport: boolean): ResponseHead {
  const options: Option[] = [];
  const format = contentFormatOf(headerText(result.headers, 'content-type'));
  if (format !== undefined) options.push(option(OPT.contentFormat, encodeUint(format)));
  const maxAge = maxAgeOf(result);
  if (maxAge !== undefined) options.push(option(OPT.maxAge, encodeUint(maxAge)));
  if (withReport) options.push(option(OPT.ternReport, Buffer.from(JSON.stringify(result.report))));
  return { code: coapCodeOf(result.status, method), options };
}

/**
 * RFC 8516 §4 / RFC 7252 §5.9.3.4: on 4.29 and 5.03, Max-Age says when to retry. Otherwise it is
 * cache freshness, which CoAP defaults to 60 s: a function's reply is fresh only as long as its
 * Cache-Control max-age says, else 0, so no proxy replays one call's answer for the next.
 */
function maxAgeOf(result: Result): number | undefined {
  if (result.status === 429 || result.status === 503)
    return retryAfterSeconds(headerText(result.headers, 'retry-after'));
  if (result.status >= 300) return undefined;
  const match = /(?:^|,)\s*max-age\s*=\s*(\d+)/i.exec(headerText(result.headers, 'cache-control') ?? '');
  return match?.[1] !== undefined ? Math.min(Number(match[1]), 0xffffffff) : 0;
}
