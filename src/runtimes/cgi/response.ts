/**
 * A CGI program's stdout as an HTTP response (a wasm guest's, WAGI style, or a binary function's).
 * One rule for both:
 *
 *  - stdout opens with a header block when its first line looks like `Name: value` (name of
 *    A-Z a-z 0-9 and "-"), an empty line follows within the first 64 KiB (lines end in "\n" or
 *    "\r\n"), and every line before that empty line looks like `Name: value`.
 *    Then the body is everything after the empty line.
 *  - Otherwise the whole of stdout is the body: status 200, `text/plain; charset=utf-8`.
 *  - In a header block: `Status: 404 Not Found` sets the status (100–599, else the call fails);
 *    `Location:` without `Status:` means 302; `Content-Type` defaults to text/plain; a repeated
 *    header keeps every value (two Set-Cookie lines reach the client as two). Framing headers (Content-Length, Transfer-Encoding, Connection…)
 *    and Tern's own `X-Tern-*` are dropped: the node sets those. Header names come back lower-cased.
 */
import { appendHeader, type ResponseHeaders } from '../../core/headers.js';
import type { Response } from '../../core/result.js';
import { TernError } from '../../core/errors.js';

export const DEFAULT_CONTENT_TYPE = 'text/plain; charset=utf-8';
const MAX_HEADER_BLOCK = 64 * 1024;
// `s`: a stray \r inside a value is the value's problem (dropped below), not the block's.
const HEADER_LINE = /^([A-Za-z0-9-]+):[ \t]*(.*?)[ \t]*$/s;
const DROPPED = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'trailer',
  'te',
  'proxy-connection',
]);
/** Node refuses control characters other than tab in header values. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

export interface ParsedResponse extends Response {
  /** Header lines dropped, with why (for the function's log). */
  dropped: string[];
}

function plain(body: Buffer): ParsedResponse {
  return { status: 200, headers: { 'content-type': DEFAULT_CONTENT_TYPE }, body, dropped: [] };
}

/** The header block's lines and where the body starts, or undefined when stdout has none. */
function splitHeaderBlock(out: Buffer): { lines: string[]; bodyStart: number } | undefined {
  const firstColon = out.indexOf(0x3a);
  if (firstColon <= 0 || firstColon > 256 || !HEADER_LINE.test(`${out.toString('latin1', 0, firstColon)}:`))
    return undefined;
  const limit = Math.min(out.length, MAX_HEADER_BLOCK);
  const lines: string[] = [];
  let start = 0;
  while (start < limit) {
    const nl = out.indexOf(0x0a, start);
    if (nl < 0 || nl >= limit) return undefined;
    const end = nl > start && out[nl - 1] === 0x0d ? nl - 1 : nl;
    if (end === start) return { lines, bodyStart: nl + 1 };
    const line = out.toString('latin1', start, end);
    if (!HEADER_LINE.test(line)) return undefined;
    lines.push(line);
    start = nl + 1;
  }
  return undefined;
}

/** `who` names the program in errors ("the wasm function", "the binary"). */
export function parseCgiOutput(out: Buffer, who = 'the function'): ParsedResponse {
  const block = splitHeaderBlock(out);
  if (!block) return plain(out);
  const headers: ResponseHeaders = {};
  const dropped: string[] = [];
  let status: number | undefined;
  for (const line of block.lines) {
    const m = HEADER_LINE.exec(line)!;
    const name = m[1]!.toLowerCase();
    const value = m[2]!;
    if (name === 'status') {
      const s = /^(\d{3})(?:\s.*)?$/.exec(value);
      const code = s ? Number(s[1]) : NaN;
      if (!(code >= 100 && code <= 599))
        throw new TernError('function_error', `${who} sent a bad CGI Status header: "${value.slice(0, 100)}"`);
      status = code;
      continue;
    }
    if (DROPPED.has(name) || name.startsWith('x-tern-')) {
      dropped.push(`${name}: set by the node`);
      continue;
    }
    if (BAD_VALUE.test(value)) {
      dropped.push(`${name}: control characters in the value`);
      continue;
    }
    appendHeader(headers, name, value);
  }
  if (status === undefined) status = headers.location !== undefined ? 302 : 200;
  if (headers['content-type'] === undefined) headers['content-type'] = DEFAULT_CONTENT_TYPE;
  return { status, headers, body: out.subarray(block.bodyStart), dropped };
}
