/**
 * The two tables that translate CoAP's compact numbers into HTTP terms and back:
 * Content-Format <-> Content-Type (RFC 7252 §12.3, RFC 8949) and HTTP status -> CoAP response code.
 */
const TYPE_BY_FORMAT: ReadonlyMap<number, string> = new Map([
  [0, 'text/plain; charset=utf-8'],
  [40, 'application/link-format'],
  [41, 'application/xml'],
  [42, 'application/octet-stream'],
  [47, 'application/exi'],
  [50, 'application/json'],
  [60, 'application/cbor'],
]);

const FORMAT_BY_TYPE: ReadonlyMap<string, number> = new Map([
  ['text/plain', 0],
  ['application/link-format', 40],
  ['application/xml', 41],
  ['text/xml', 41],
  ['application/octet-stream', 42],
  ['application/exi', 47],
  ['application/json', 50],
  ['application/cbor', 60],
]);

/** Content-Type for a Content-Format number; undefined for numbers outside the table. */
export function contentTypeOf(format: number): string | undefined {
  return TYPE_BY_FORMAT.get(format);
}

/** Content-Format for a Content-Type header (parameters ignored); undefined when CoAP has no number for it. */
export function contentFormatOf(contentType: string | undefined): number | undefined {
  if (contentType === undefined) return undefined;
  const mediaType = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return FORMAT_BY_TYPE.get(mediaType);
}

const CODE_BY_STATUS: ReadonlyMap<number, string> = new Map([
  [200, '2.05'],
  [201, '2.01'],
  [203, '2.05'],
  [304, '2.03'],
  [400, '4.00'],
  [401, '4.01'],
  [402, '4.02'],
  [403, '4.03'],
  [404, '4.04'],
  [405, '4.05'],
  [406, '4.06'],
  [409, '4.09'],
  [412, '4.12'],
  [413, '4.13'],
  [415, '4.15'],
  [422, '4.22'],
  [429, '4.29'],
  [500, '5.00'],
  [501, '5.01'],
  [502, '5.02'],
  [503, '5.03'],
  [504, '5.04'],
]);

/**
 * CoAP response code for an HTTP status. 204 depends on the method (2.02 Deleted for DELETE,
 * 2.04 Changed otherwise). Other statuses map by class; 3xx (no CoAP redirects) becomes 5.02.
 */
export function coapCodeOf(status: number, method: string): string {
  if (status === 204) return method === 'DELETE' ? '2.02' : method === 'GET' ? '2.05' : '2.04';
  const exact = CODE_BY_STATUS.get(status);
  if (exact !== undefined) return exact;
  if (status >= 200 && status < 300) return method === 'DELETE' ? '2.02' : '2.05';
  if (status >= 400 && status < 500) return '4.00';
  return status >= 300 && status < 400 ? '5.02' : '5.00';
}

/** Seconds from a Retry-After header (delta-seconds or HTTP-date); undefined when absent or unreadable. */
export function retryAfterSeconds(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Math.min(Number(trimmed), 0xffffffff);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.ceil((date - now) / 1000));
}
