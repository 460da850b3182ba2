/**
 * One call, proxied to the guest's HTTP server: method, path and query, headers and body go in;
 * status, headers and body come back. Hop-by-hop headers stay on each side.
 */
import { request, type Agent, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { TernError } from '../../core/errors.js';
import type { Invocation } from '../../core/invocation.js';
import type { Response } from '../../core/result.js';

export interface GuestTarget {
  host: string;
  port: number;
  agent: Agent;
  /** A unix socket to connect to instead of host:port (the container runtime's forwarder). */
  socketPath?: string;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'content-length',
]);

function requestHeaders(inv: Invocation): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(inv.headers)) if (!HOP_BY_HOP.has(name)) out[name] = value;
  out['content-length'] = String(inv.body.length);
  return out;
}

function responseHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

export interface ProxyFailure {
  /** Why the call could not reach the guest, given the transport error (e.g. the VM is gone). */
  explain(error: Error): TernError;
}

export function proxyCall(
  target: GuestTarget,
  inv: Invocation,
  signal: AbortSignal,
  maxResponseBytes: number,
  failure: ProxyFailure,
): Promise<Response> {
  return new Promise<Response>((resolveCall, reject) => {
    if (signal.aborted) {
      reject(new TernError('function_crashed', 'the instance was stopped before the call'));
      return;
    }
    const path = `${inv.path}${inv.query ? `?${inv.query}` : ''}`;
    let req: ReturnType<typeof request>;
    try {
      req = request({
        ...(target.socketPath !== undefined
          ? { socketPath: target.socketPath }
          : { host: target.host, port: target.port }),
        method: inv.method,
        path,
        headers: requestHeaders(inv),
        agent: target.agent,
        signal,
      });
    } catch (e) {
      reject(new TernError('bad_request', `cannot forward this request to the guest: ${(e as Error).message}`));
      return;
    }
    req.on('error', (e) => {
      reject(
        signal.aborted
          ? new TernError('function_crashed', 'the call was aborted: the instance was stopped')
          : failure.explain(e),
      );
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxResponseBytes) {
          res.destroy();
          req.destroy();
          reject(new TernError('function_error', `the guest's response body is over ${maxResponseBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (e) => reject(failure.explain(e)));
      res.on('end', () => {
        resolveCall({
          status: res.statusCode ?? 502,
          headers: responseHeaders(res.headers),
          body: Buffer.concat(chunks, size),
        });
      });
    });
    req.end(inv.body);
  });
}
