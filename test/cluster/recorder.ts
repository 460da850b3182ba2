/**
 * A recording HTTP server on loopback for the cluster-trust tests. It keeps every request it gets
 * (method, target, headers, body, as they arrived) and either answers 404 itself or, once given a
 * target, passes the request on to it and the answer back: put in front of a node (the node
 * advertises the recorder's URL), it sees every byte that peers send that node.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** Header names and values as sent, in order (the raw text a node put on the wire). */
  rawHeaders: string[];
  body: Buffer;
}

export interface Recorder {
  url: string;
  requests: RecordedRequest[];
  /** Pass requests on to this base URL (a node's real address); until set, answer 404. */
  forwardTo(url: string): void;
  close(): Promise<void>;
}

export async function startRecorder(): Promise<Recorder> {
  const requests: RecordedRequest[] = [];
  let target: string | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
      };
      requests.push(seen);
      if (target === undefined) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"not_found"}}');
        return;
      }
      const headers = { ...req.headers };
      delete headers.host;
      const onward = httpRequest(`${target}${seen.url}`, { method: seen.method, headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      onward.on('error', () => res.destroy());
      onward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    forwardTo: (url) => {
      target = url;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Everything a recorded request put on the wire, as text (to search for a string that must not be there). */
export function wireText(r: RecordedRequest): string {
  return `${r.method} ${r.url}\n${r.rawHeaders.join('\n')}\n\n${r.body.toString('latin1')}`;
}
