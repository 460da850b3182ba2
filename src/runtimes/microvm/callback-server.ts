/**
 * The readiness callback: one small HTTP listener per runtime on 127.0.0.1. A guest requests
 * /ready/<instance-id>/<token> (any method) once it serves; the waiting start() then resolves.
 *
 * Under user-mode networking each QEMU reaches it through its own guestfwd connection, opened
 * when QEMU starts, so connections may sit idle for the whole boot: no idle timeout applies.
 * In tap mode the same handler also listens on the host end of each tap device.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

interface Waiter {
  token: string;
  ready(): void;
}

export class CallbackServer {
  private readonly waiters = new Map<string, Waiter>();
  private readonly servers = new Set<Server>();
  private loopback: Promise<number> | undefined;

  /** Port of the loopback listener, started on first use. */
  loopbackPort(): Promise<number> {
    this.loopback ??= this.listen('127.0.0.1').then((s) => s.port);
    return this.loopback;
  }

  /** An extra listener (tap mode: the host end of one tap device). Close it with the returned function. */
  async listen(host: string): Promise<{ port: number; close(): Promise<void> }> {
    const server = createServer({ requestTimeout: 10_000 }, (req, res) => this.handle(req, res));
    server.keepAliveTimeout = 1_000;
    server.maxHeadersCount = 50;
    await new Promise<void>((resolveListen, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolveListen());
    });
    server.unref();
    this.servers.add(server);
    return { port: (server.address() as AddressInfo).port, close: () => this.closeServer(server) };
  }

  /** Expect a call for `id` carrying `token`; `ready` runs once when it comes. Returns the path to call. */
  expect(id: string, token: string, ready: () => void): string {
    this.waiters.set(id, { token, ready });
    return `/ready/${encodeURIComponent(id)}/${token}`;
  }

  forget(id: string): void {
    this.waiters.delete(id);
  }

  async close(): Promise<void> {
    this.waiters.clear();
    await Promise.all([...this.servers].map((s) => this.closeServer(s)));
    this.loopback = undefined;
  }

  private closeServer(server: Server): Promise<void> {
    this.servers.delete(server);
    return new Promise((resolveClose) => {
      server.close(() => resolveClose());
      server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    // The body, if any, means nothing: drain it so the connection stays usable.
    req.resume();
    const match = /^\/ready\/([^/?]+)\/([0-9a-f]+)(?:\?.*)?$/.exec(req.url ?? '');
    const id = match ? decodeURIComponent(match[1]!) : undefined;
    const waiter = id === undefined ? undefined : this.waiters.get(id);
    if (!waiter || waiter.token !== match![2]) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('unknown instance\n');
      return;
    }
    this.waiters.delete(id!);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    waiter.ready();
  }
}
