/** Small translations between node:http shapes and Tern's. */
import type { IncomingHttpHeaders } from 'node:http';

/** Lower-cased single-string headers, repeated ones joined with ", " (set-cookie with "\n" kept apart is not needed inbound). */
export function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key in headers) {
    const v = headers[key];
    if (v === undefined) continue;
    out[key] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** Split "/a/b?x=1" into path and raw query. */
export function splitUrl(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q === -1 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

/** Headers a function must not set on the wire: the server owns framing and connection handling. */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'upgrade',
  'proxy-connection',
  'te',
  'trailer',
]);

/** A percent-decoded path segment, or undefined when its encoding is broken ("%zz"). */
export function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** Headers named so are node-to-node credentials: they never reach a function. */
const CLUSTER_HEADER_PREFIX = 'x-tern-cluster-';

/**
 * The headers a function sees: lower-cased, repeated ones joined, and every credential the node
 * itself used removed — the Authorization header when it carried the node token, and the cluster's
 * own headers. A caller's own Authorization (for a public function's own use) still reaches it.
 */
export function callerHeaders(headers: IncomingHttpHeaders, carriedNodeToken: boolean): Record<string, string> {
  const out = flattenHeaders(headers);
  if (carriedNodeToken) delete out['authorization'];
  for (const key in out) if (key.startsWith(CLUSTER_HEADER_PREFIX)) delete out[key];
  return out;
}
