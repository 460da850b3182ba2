/**
 * The CGI environment of one call (RFC 3875 meta-variables, as WAGI passes them to wasm and as a
 * binary function gets them): request line and headers as variables.
 *
 * Precedence, lowest first: HTTP_* from request headers, then the function's own `env`, then the
 * CGI meta-variables and Tern's — a caller's header can never override what the function or Tern set.
 */
import type { Invocation } from '../../core/invocation.js';

const HEADER_NAME = /^[A-Za-z0-9-]+$/;
/** Passed as CONTENT_TYPE / CONTENT_LENGTH, not again as HTTP_*; `proxy` never (httpoxy: it would become HTTP_PROXY). */
const NOT_AS_HTTP = new Set(['content-type', 'content-length', 'proxy']);

function clean(value: string): string {
  return value.includes('\0') ? value.replaceAll('\0', '') : value;
}

export function headerVariable(name: string): string {
  return `HTTP_${name.toUpperCase().replaceAll('-', '_')}`;
}

/** The variables in the order they were set; later names override earlier ones. */
export function cgiVariables(
  inv: Invocation,
  functionName: string,
  specEnv: Readonly<Record<string, string>> = {},
): Map<string, string> {
  const vars = new Map<string, string>();
  for (const [name, value] of Object.entries(inv.headers)) {
    if (!HEADER_NAME.test(name) || NOT_AS_HTTP.has(name)) continue;
    vars.set(headerVariable(name), clean(value));
  }
  for (const [name, value] of Object.entries(specEnv)) {
    if (name.length > 0 && !name.includes('=') && !name.includes('\0')) vars.set(name, clean(value));
  }
  const scriptName = `/fn/${functionName}`;
  vars.set('GATEWAY_INTERFACE', 'CGI/1.1');
  vars.set('SERVER_PROTOCOL', 'HTTP/1.1');
  vars.set('SERVER_SOFTWARE', 'tern');
  vars.set('SERVER_NAME', 'localhost');
  vars.set('REQUEST_METHOD', inv.method);
  vars.set('SCRIPT_NAME', scriptName);
  vars.set('PATH_INFO', inv.path);
  vars.set('QUERY_STRING', inv.query);
  vars.set('REQUEST_URI', `${scriptName}${inv.path === '/' ? '' : inv.path}${inv.query ? `?${inv.query}` : ''}`);
  vars.set('CONTENT_TYPE', clean(inv.headers['content-type'] ?? ''));
  vars.set('CONTENT_LENGTH', String(inv.body.length));
  vars.set('TERN_CALL_ID', inv.id);
  vars.set('TERN_FUNCTION', functionName);
  vars.set('TERN_TRIGGER', inv.trigger);
  return vars;
}

export interface EnvBlock {
  bytes: Buffer;
  count: number;
}

/** Packed as the "K=V\0K=V\0…" block WASI's environ_get copies. */
export function envBlock(vars: Map<string, string>): EnvBlock {
  let text = '';
  for (const [k, v] of vars) text += `${k}=${v}\0`;
  return { bytes: Buffer.from(text, 'utf8'), count: vars.size };
}
