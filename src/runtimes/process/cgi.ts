/**
 * CGI for `runtime = "binary"` (RFC 3875, as the wasm runtime speaks it): the request as
 * environment variables, the response as an optional header block, a blank line and the body.
 */
import type { Invocation } from '../../core/invocation.js';
import type { Response } from '../../core/result.js';

const HEADER_NAME = /^[a-z0-9-]+$/;

export function cgiEnv(inv: Invocation, functionName: string): Record<string, string> {
  const env: Record<string, string> = {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    SERVER_SOFTWARE: 'tern',
    SERVER_NAME: 'localhost',
    REQUEST_METHOD: inv.method,
    SCRIPT_NAME: `/fn/${functionName}`,
    PATH_INFO: inv.path,
    QUERY_STRING: inv.query,
    CONTENT_LENGTH: String(inv.body.length),
    CONTENT_TYPE: inv.headers['content-type'] ?? '',
    TERN_CALL_ID: inv.id,
  };
  for (const [name, value] of Object.entries(inv.headers)) {
    // Proxy: "httpoxy" — a request header must never become HTTP_PROXY for the program.
    if (name === 'content-type' || name === 'content-length' || name === 'proxy' || !HEADER_NAME.test(name)) continue;
    env[`HTTP_${name.toUpperCase().replaceAll('-', '_')}`] = value.replaceAll('\0', '');
  }
  return env;
}

const HEADER_LINE = /^([A-Za-z0-9-]+):[ \t]*(.*)$/;
/** A header block is looked for only this far into the output. */
const MAX_HEADER_BLOCK = 64 * 1024;

function headerBlockEnd(out: Buffer): { end: number; bodyStart: number } | undefined {
  const limit = Math.min(out.length, MAX_HEADER_BLOCK);
  for (let i = 0; i < limit; i++) {
    if (out[i] !== 10) continue;
    // "\n\n" or "\n\r\n" ends the block; i is the first newline.
    if (out[i + 1] === 10) return { end: i, bodyStart: i + 2 };
    if (out[i + 1] === 13 && out[i + 2] === 10) return { end: i, bodyStart: i + 3 };
  }
  return undefined;
}

/** Parse a CGI program's stdout into a response. Output without a header block is all body. */
export function parseCgiOutput(out: Buffer): Response {
  const plain: Response = { status: 200, headers: { 'content-type': 'text/plain' }, body: out };
  const block = headerBlockEnd(out);
  if (!block) return plain;
  const lines = out.toString('latin1', 0, block.end).split('\n');
  const headers: Record<string, string> = {};
  let status: number | undefined;
  for (const raw of lines) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const m = HEADER_LINE.exec(line);
    if (!m) return plain;
    const name = m[1]!.toLowerCase();
    const value = m[2]!.trim();
    if (name === 'status') {
      const code = /^(\d{3})\b/.exec(value);
      if (!code) return plain;
      status = Number(code[1]);
    } else {
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
  }
  if (status === undefined) status = headers.location !== undefined ? 302 : 200;
  if (status < 100 || status > 599) return plain;
  if (headers['content-type'] === undefined) headers['content-type'] = 'text/plain';
  return { status, headers, body: out.subarray(block.bodyStart) };
}
