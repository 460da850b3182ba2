/**
 * One HTTP request to a peer node, bounded in time and size, that says after a failure whether
 * the request could have reached the peer. That answer decides whether a forwarded call may be
 * retried elsewhere: a connection that never opened is always safe to retry; anything later is
 * not, unless the function is idempotent.
 */
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';

export type PeerFailureKind = 'connect' | 'timeout' | 'broken' | 'too_large';

export class PeerError extends Error {
  constructor(
    readonly kind: PeerFailureKind,
    /** False only when no connection to the peer was ever open: the peer cannot have seen the request. */
    readonly sent: boolean,
    message: string,
  ) {
    super(message);
    this.name = 'PeerError';
  }
}

export interface PeerResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface PeerRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: Buffer;
  /** Whole request, connect to last byte. */
  timeoutMs: number;
  /** Opening the connection. */
  connectTimeoutMs: number;
  /** Larger responses are cut off (PeerError 'too_large'). */
  maxBytes: number;
}

/** Keep-alive connections between nodes: a hop costs a request, not a TCP handshake. */
export function createPeerAgent(): Agent {
  // Idle sockets close well before fastify's 72 s keep-alive would close them under us.
  return new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 16, timeout: 30_000 });
}

export function peerRequest(agent: Agent, r: PeerRequest): Promise<PeerResponse> {
  return new Promise((resolve, reject) => {
    let connected = false;
    let settled = false;
    const fail = (err: PeerError) => {
      if (settled) return;
      settled = true;
      clearTimeout(total);
      clearTimeout(connecting);
      req.destroy();
      reject(err);
    };
    const headers: Record<string, string> = { ...r.headers };
    if (r.body !== undefined) headers['content-length'] = String(r.body.length);
    const req = httpRequest(r.url, { method: r.method, headers, agent });
    const total = setTimeout(
      () => fail(new PeerError('timeout', connected, `no answer within ${r.timeoutMs} ms`)),
      r.timeoutMs,
    );
    const connecting = setTimeout(() => {
      if (!connected) fail(new PeerError('connect', false, `could not connect within ${r.connectTimeoutMs} ms`));
    }, r.connectTimeoutMs);

    req.on('socket', (socket) => {
      if (!socket.connecting) {
        connected = true;
        clearTimeout(connecting);
        return;
      }
      socket.once('connect', () => {
        connected = true;
        clearTimeout(connecting);
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      fail(new PeerError(connected ? 'broken' : 'connect', connected, e.code ? `${e.code}: ${e.message}` : e.message));
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > r.maxBytes) {
          fail(new PeerError('too_large', true, `the answer is over ${r.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (e) => fail(new PeerError('broken', true, e.message)));
      res.on('aborted', () => fail(new PeerError('broken', true, 'the connection closed mid-answer')));
      res.on('end', () => {
        if (settled) return;
        if (!res.complete) {
          fail(new PeerError('broken', true, 'the connection closed mid-answer'));
          return;
        }
        settled = true;
        clearTimeout(total);
        clearTimeout(connecting);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
      });
    });
    req.end(r.body);
  });
}
