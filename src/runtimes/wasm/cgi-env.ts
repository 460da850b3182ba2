/**
 * The CGI environment of one call (RFC 3875 meta-variables, as WAGI passes them to wasm):
 * request line and headers as variables, packed as the "K=V\0K=V\0…" block environ_get copies.
 *
 * Precedence, lowest first: HTTP_* from request headers, then the function's own `env`, then the
 * CGI meta-variables — a caller's header can never override what the function or Tern set.
 */
import type { Invocation } from '../../core/invocation.js';

export interface EnvBlock {
  bytes: Buffer;
  count: number;
}

const HEADER_NAME = /^[A-Za-z0-9-]+$/;
/** Passed as CONTENT_TYPE / CONTENT_LENGTH, not again as HTTP_*. */
const NOT_AS_HTTP = new Set(['content-type', 'content-length']);

function clean(value: string): string {
  return value.includes('\0') ? value.replaceAll('\0', '') : value;
}

export function headerVariable(name: string): string {
  return `HTTP_${name.toUpperCase().replaceAll('-', '_')}`;
}

export interface EnvOptions {
  /** The function's name: SCRIPT_NAME is /fn/<name>. */
  functionName: string;
  /** function.toml `env`. */
  specEnv: Readonly<Record<string, string>>;
  /** Private functions are called with the node's token: it is not handed to their code. */
  hideAuthorization: boolean;
}

export function cgiEnvironment(inv: Invocation, opts: EnvOptions): EnvBlock {
  const vars = new Map<string, string>();
  for (const [name, value] of Object.entries(inv.headers)) {
    if (!HEADER_NAME.test(name) || NOT_AS_HTTP.has(name)) continue;
    if (opts.hideAuthorization && (name === 'authorization' || name === 'proxy-authorization')) continue;
    vars.set(headerVariable(name), clean(value));
  }
  for (const [name, value] of Object.entries(opts.specEnv)) {
    if (name.length > 0 && !name.includes('=') && !name.includes('\0')) vars.set(name, clean(value));
  }
  const scriptName = `/fn/${opts.functionName}`;
  vars.set('GATEWAY_INTERFACE', 'CGI/1.1');
  vars.set('SERVER_PROTOCOL', 'HTTP/1.1');
  vars.set('SERVER_SOFTWARE', 'tern');
  vars.set('REQUEST_METHOD', inv.method);
  vars.set('SCRIPT_NAME', scriptName);
  vars.set('PATH_INFO', inv.path);
  vars.set('QUERY_STRING', inv.query);
  vars.set('REQUEST_URI', `${scriptName}${inv.path === '/' ? '' : inv.path}${inv.query ? `?${inv.query}` : ''}`);
  vars.set('CONTENT_TYPE', clean(inv.headers['content-type'] ?? ''));
  vars.set('CONTENT_LENGTH', String(inv.body.length));
  vars.set('X_TERN_CALL_ID', inv.id);
  vars.set('X_TERN_FUNCTION', opts.functionName);
  vars.set('X_TERN_TRIGGER', inv.trigger);
  let text = '';
  for (const [k, v] of vars) text += `${k}=${v}\0`;
  return { bytes: Buffer.from(text, 'utf8'), count: vars.size };
}
