/**
 * Requests and notices between two event loops of one node (the control loop and an edge loop)
 * over a MessagePort. A request gets exactly one answer or fails when the channel closes; errors
 * cross as TernErrors (code, message, headers), so a refusal on one side is the same refusal on
 * the other.
 */
import type { MessagePort, TransferListItem } from 'node:worker_threads';
import { isTernError, TernError, type ErrorCode } from '../core/errors.js';

/** A side's handlers: one argument in, a value (or a promise of one) out. */
export type Api = { [method: string]: (arg: never) => unknown };
type Arg<F> = F extends (arg: infer A) => unknown ? A : never;
type Answer<F> = F extends (arg: never) => infer R ? Awaited<R> : never;

interface Request {
  t: 0;
  id: number;
  m: string;
  a: unknown;
}
interface Reply {
  t: 1;
  id: number;
  ok: boolean;
  v: unknown;
}
interface Notice {
  t: 2;
  m: string;
  a: unknown;
}
type Message = Request | Reply | Notice;

interface WireError {
  code: ErrorCode;
  message: string;
  headers: Record<string, string>;
}

function toWireError(e: unknown): WireError {
  if (isTernError(e)) return { code: e.code, message: e.message, headers: e.headers };
  return { code: 'internal', message: e instanceof Error ? e.message : String(e), headers: {} };
}

function fromWireError(w: WireError): TernError {
  return new TernError(w.code, w.message, w.headers);
}

export class Channel<Local extends Api, Remote extends Api> {
  private seq = 0;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>();
  private closed: TernError | undefined;
  private local: Local | undefined;

  /** Requests can be sent at once; what arrives waits (in the port) until `serve`. */
  constructor(private readonly port: MessagePort) {
    port.on('close', () => this.close(new TernError('unavailable', 'the other event loop went away')));
  }

  /** Start answering the other side with these handlers. */
  serve(local: Local): this {
    this.local = local;
    this.port.on('message', (m: Message) => this.receive(m));
    return this;
  }

  /** Ask the other side; resolves with its handler's answer. */
  call<K extends keyof Remote & string>(
    method: K,
    arg: Arg<Remote[K]>,
    transfer?: readonly TransferListItem[],
  ): Promise<Answer<Remote[K]>> {
    if (this.closed) return Promise.reject(this.closed);
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.port.postMessage({ t: 0, id, m: method, a: arg } satisfies Request, transfer);
    });
  }

  /** Tell the other side; no answer. */
  notify<K extends keyof Remote & string>(
    method: K,
    arg: Arg<Remote[K]>,
    transfer?: readonly TransferListItem[],
  ): void {
    if (!this.closed) this.port.postMessage({ t: 2, m: method, a: arg } satisfies Notice, transfer);
  }

  /** Fail every pending request; later calls fail at once. */
  close(reason: TernError): void {
    if (this.closed) return;
    this.closed = reason;
    for (const p of this.pending.values()) p.reject(reason);
    this.pending.clear();
    this.port.close();
  }

  unref(): void {
    this.port.unref();
  }

  private receive(m: Message): void {
    if (m.t === 1) {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.v);
      else p.reject(fromWireError(m.v as WireError));
      return;
    }
    const handler = this.local?.[m.m] as ((arg: unknown) => unknown) | undefined;
    if (m.t === 2) {
      if (handler)
        void Promise.resolve()
          .then(() => handler(m.a))
          .catch(() => undefined);
      return;
    }
    const answer = (ok: boolean, v: unknown) => {
      if (!this.closed) this.port.postMessage({ t: 1, id: m.id, ok, v } satisfies Reply);
    };
    if (!handler) {
      answer(false, toWireError(new TernError('internal', `no handler for "${m.m}"`)));
      return;
    }
    let out: unknown;
    try {
      out = handler(m.a);
    } catch (e) {
      answer(false, toWireError(e));
      return;
    }
    if (out instanceof Promise)
      out.then(
        (v: unknown) => answer(true, v),
        (e: unknown) => answer(false, toWireError(e)),
      );
    else answer(true, out);
  }
}
