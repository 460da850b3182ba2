/**
 * The main-thread side of the `tern` imports for one wasm call: turns a host request from the
 * guest into a state operation or a chained call on the node's HostServices, and keeps the call's
 * pending async children (call_async handles). Lock owner = the call id: the node frees a call's
 * locks when it ends, so a guest that traps while holding one does not wedge the key.
 */
import { isTernError, type ErrorCode } from '../../core/errors.js';
import type { Invocation } from '../../core/invocation.js';
import type { Result } from '../../core/result.js';
import type { HostServices } from '../runtime.js';
import { HOST_OP, TERN_ERR, type HostReply, type HostRequest } from './host-wire.js';

/** Async children one call may have pending. */
const MAX_HANDLES = 1024;

const ERROR_NUMBERS: Partial<Record<ErrorCode, number>> = {
  not_found: TERN_ERR.NOT_FOUND,
  bad_request: TERN_ERR.INVALID,
  too_large: TERN_ERR.TOO_BIG,
  no_capacity: TERN_ERR.FULL,
  conflict: TERN_ERR.LOCK,
  unavailable: TERN_ERR.UNAVAILABLE,
};

export interface HostHooks {
  /** Hand the worker the shared segment of a key (it reads the value in place from then on). */
  postSegment(key: string, segment: SharedArrayBuffer): void;
  /** The guest is about to wait on something slow (a lock, Redis, a child): its worker is blocked. */
  blocked(on: boolean): void;
  /** A line for the function's log. */
  log(line: string): void;
}

function failure(result: number, message: string): HostReply {
  return { result, data: Buffer.from(message) };
}

/** Name "fn[/path][?query]" of a chained call: the function and the rest. */
function splitTarget(name: string): { fn: string; path: string } {
  const cut = name.search(/[/?]/);
  if (cut < 0) return { fn: name, path: '/' };
  const rest = name.slice(cut);
  return { fn: name.slice(0, cut), path: rest.startsWith('/') ? rest : `/${rest}` };
}

export class HostSession {
  private readonly handles = new Map<number, Promise<Result>>();
  private nextHandle = 1;

  constructor(
    readonly inv: Invocation,
    private readonly services: HostServices | undefined,
  ) {}

  /**
   * The reply at once for operations that need no waiting (reads, writes, starting a call), so it
   * goes back without an event-loop turn; undefined for the ones that wait (then use serve).
   */
  serveNow(req: HostRequest, hooks: HostHooks): HostReply | undefined {
    try {
      return this.runNow(req, hooks);
    } catch (e) {
      return this.failed(e, hooks);
    }
  }

  async serve(req: HostRequest, hooks: HostHooks): Promise<HostReply> {
    try {
      return this.runNow(req, hooks) ?? (await this.run(req, hooks));
    } catch (e) {
      return this.failed(e, hooks);
    }
  }

  private failed(e: unknown, hooks: HostHooks): HostReply {
    const message = e instanceof Error ? e.message : String(e);
    const code = isTernError(e) ? (ERROR_NUMBERS[e.code] ?? TERN_ERR.FAILED) : TERN_ERR.FAILED;
    if (code !== TERN_ERR.NOT_FOUND) hooks.log(`tern: ${message}`);
    return failure(code, message);
  }

  private async slow<T>(hooks: HostHooks, work: () => Promise<T>): Promise<T> {
    hooks.blocked(true);
    try {
      return await work();
    } finally {
      hooks.blocked(false);
    }
  }

  /** Operations answered synchronously; undefined for the ones that wait. */
  private runNow(req: HostRequest, hooks: HostHooks): HostReply | undefined {
    const services = this.services;
    if (!services) return failure(TERN_ERR.UNAVAILABLE, 'this node offers no host services');
    const key = req.name;
    const data = Buffer.from(req.data.buffer, req.data.byteOffset, req.data.byteLength);
    switch (req.op) {
      case HOST_OP.CALL_ASYNC: {
        if (this.handles.size >= MAX_HANDLES)
          return failure(TERN_ERR.FULL, `more than ${MAX_HANDLES} chained calls pending in one call`);
        const { fn, path } = splitTarget(req.name);
        const handle = this.nextHandle++;
        const pending = services.invoke(this.inv, fn, data, { path });
        pending.catch(() => undefined);
        this.handles.set(handle, pending);
        return { result: handle };
      }
      case HOST_OP.CALL:
      case HOST_OP.AWAIT:
        return undefined;
    }
    const state = services.state;
    if (!state) return failure(TERN_ERR.UNAVAILABLE, 'this node offers no state');
    switch (req.op) {
      case HOST_OP.GET: {
        const segment = state.segment(key);
        const length = state.size(key);
        if (!segment || length === undefined) return failure(TERN_ERR.NOT_FOUND, `no state "${key}"`);
        hooks.postSegment(key, segment);
        const bytes = req.b > 0 ? state.read(key, req.a, req.b) : undefined;
        return { result: length, ...(bytes ? { data: bytes } : {}) };
      }
      case HOST_OP.SET:
        state.set(key, data);
        return { result: data.length };
      case HOST_OP.WRITE:
        return { result: state.write(key, req.a, data) };
      case HOST_OP.APPEND:
        return { result: state.append(key, data) };
      case HOST_OP.DELETE:
        return { result: state.delete(key) ? 1 : 0 };
      case HOST_OP.LOCK:
      case HOST_OP.UNLOCK:
      case HOST_OP.PUSH:
      case HOST_OP.PULL:
        return undefined;
      default:
        return failure(TERN_ERR.INVALID, `unknown host operation ${req.op}`);
    }
  }

  /** Operations that wait: locks, the global tier, chained calls (runNow has ruled out the rest). */
  private async run(req: HostRequest, hooks: HostHooks): Promise<HostReply> {
    const services = this.services;
    const state = services?.state;
    if (!services) return failure(TERN_ERR.UNAVAILABLE, 'this node offers no host services');
    const owner = this.inv.id;
    const key = req.name;
    switch (req.op) {
      case HOST_OP.CALL: {
        const { fn, path } = splitTarget(req.name);
        const data = Buffer.from(req.data.buffer, req.data.byteOffset, req.data.byteLength);
        const result = await this.slow(hooks, () => services.invoke(this.inv, fn, data, { path }));
        return { result: result.status, extra: result.body.length, data: result.body.subarray(0, req.b) };
      }
      case HOST_OP.AWAIT: {
        const pending = this.handles.get(req.a);
        if (!pending) return failure(TERN_ERR.INVALID, `no pending chained call with handle ${req.a}`);
        this.handles.delete(req.a);
        const result = await this.slow(hooks, () => pending);
        return { result: result.status, extra: result.body.length, data: result.body.subarray(0, req.b) };
      }
    }
    if (!state) return failure(TERN_ERR.UNAVAILABLE, 'this node offers no state');
    switch (req.op) {
      case HOST_OP.LOCK:
        await this.slow(hooks, () => state.lock(key, owner, req.a === 1));
        return { result: 0 };
      case HOST_OP.UNLOCK:
        await state.unlock(key, owner, req.a === 1);
        return { result: 0 };
      case HOST_OP.PUSH:
        await this.slow(hooks, () => state.push(key));
        return { result: 0 };
      case HOST_OP.PULL: {
        const found = await this.slow(hooks, () => state.pull(key));
        return found ? { result: state.size(key) ?? 0 } : failure(TERN_ERR.NOT_FOUND, `no global state "${key}"`);
      }
      default:
        return failure(TERN_ERR.INVALID, `unknown host operation ${req.op}`);
    }
  }
}
