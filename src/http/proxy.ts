/**
 * Hands a request to the control loop's own HTTP server (the management API, the dashboard, the
 * rarer invocation forms) over a unix socket in the node's private scratch folder, streaming both
 * ways. The control loop decides everything about such a request, access included; the edge only
 * tells it the client's address, in a header it strips from what clients send.
 */
import {
  Agent,
  request as httpRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import { TernError } from '../core/errors.js';
import { HOP_BY_HOP } from './headers.js';
import { writeError } from './reply.js';

/** The client's address as the edge saw it; only trusted on the control loop's private socket. */
export const PEER_HEADER = 'x-tern-peer-address';

export function proxyTo(socketPath: string): (req: IncomingMessage, res: ServerResponse) => void {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  return (req, res) => {
    const headers: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (
        value === undefined ||
        name === PEER_HEADER ||
        (HOP_BY_HOP.has(name) && name !== 'content-length' && name !== 'transfer-encoding')
      )
        continue;
      headers[name] = value;
    }
    headers[PEER_HEADER] = req.socket.remoteAddress ?? '';
    let answered = false;
    const upstream = httpRequest({ socketPath, agent, method: req.method, path: req.url, headers }, (reply) => {
      answered = true;
      const out: OutgoingHttpHeaders = {};
      for (const [name, value] of Object.entries(reply.headers)) {
        if (value !== undefined && name !== 'connection' && name !== 'keep-alive') out[name] = value;
      }
      // Answered before the client finished sending (a refusal, a 413): what it still sends goes nowhere.
      const early = !req.complete;
      if (early) {
        req.unpipe(upstream);
        out['connection'] = 'close';
        reply.on('end', () => upstream.destroy());
      }
      res.writeHead(reply.statusCode ?? 502, out);
      reply.pipe(res);
      reply.on('error', () => res.destroy());
    });
    upstream.on('error', (e) => {
      if (answered) return;
      if (res.headersSent) res.destroy();
      else
        writeError(res, new TernError('unavailable', `the node is not ready or is shutting down (${e.message})`), true);
    });
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  };
}
