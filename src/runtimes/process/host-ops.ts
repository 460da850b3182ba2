/**
 * The node's answers to host requests from python/node shims (`{"t":"host", op, args}` frames):
 * chained calls (invoke, call-async, await) and state (state.get … state.pull). Values travel in
 * frame bodies over the instance's pipe: one copy each way, no shared memory (docs/state.md).
 * A failure is `{error, code}` with the TernError code, so a shim can raise something specific.
 */
import { isTernError } from '../../core/errors.js';
import type { Invocation } from '../../core/invocation.js';
import type { Result } from '../../core/result.js';
import type { HostServices } from '../runtime.js';
import { int, str, stringRecord, type Header } from './protocol.js';

/** Async children one call may have pending. */
const MAX_PENDING_PER_CALL = 1024;

export interface HostAnswer {
  header: Header;
  body?: Buffer;
}

function failure(message: string, code = 'bad_request'): HostAnswer {
  return { header: { error: message, code } };
}

function chainOptions(args: Header): { method?: string; path?: string; headers?: Record<string, string> } {
  const opts: { method?: string; path?: string; headers?: Record<string, string> } = {};
  const method = str(args, 'method');
  const path = str(args, 'path');
  const headers = stringRecord(args.headers);
  if (method) opts.method = method;
  if (path) opts.path = path;
  if (headers) opts.headers = headers;
  return opts;
}

function resultAnswer(result: Result): HostAnswer {
  return { header: { status: result.status, headers: result.headers }, body: result.body };
}

/** One instance's host side: its calls' pending async children live here until awaited or the call ends. */
export class HostOps {
  private readonly pending = new Map<string, Map<number, Promise<Result>>>();
  private nextHandle = 1;

  constructor(private readonly host: HostServices | undefined) {}

  /** The call ended: its children still run, but their handles are gone. */
  forget(callId: string): void {
    this.pending.delete(callId);
  }

  async serve(parent: Invocation, op: string | undefined, args: Header, body: Buffer): Promise<HostAnswer> {
    try {
      return await this.run(parent, op ?? '', args, body);
    } catch (e) {
      return failure(e instanceof Error ? e.message : String(e), isTernError(e) ? e.code : 'internal');
    }
  }

  private async run(parent: Invocation, op: string, args: Header, body: Buffer): Promise<HostAnswer> {
    const host = this.host;
    if (!host) return failure('this node offers no host services', 'unavailable');
    switch (op) {
      case 'invoke': {
        const target = str(args, 'function');
        if (!target) return failure('invoke needs a function name');
        return resultAnswer(await host.invoke(parent, target, body, chainOptions(args)));
      }
      case 'call-async': {
        const target = str(args, 'function');
        if (!target) return failure('call-async needs a function name');
        let handles = this.pending.get(parent.id);
        if (!handles) this.pending.set(parent.id, (handles = new Map()));
        if (handles.size >= MAX_PENDING_PER_CALL)
          return failure(`more than ${MAX_PENDING_PER_CALL} chained calls pending in one call`, 'no_capacity');
        const handle = this.nextHandle++;
        const running = host.invoke(parent, target, body, chainOptions(args));
        running.catch(() => undefined);
        handles.set(handle, running);
        return { header: { handle } };
      }
      case 'await': {
        const handle = int(args, 'handle');
        const running = handle === undefined ? undefined : this.pending.get(parent.id)?.get(handle);
        if (handle === undefined || !running)
          return failure(`no pending chained call with handle ${String(args.handle)}`);
        this.pending.get(parent.id)?.delete(handle);
        return resultAnswer(await running);
      }
    }
    if (!op.startsWith('state.')) return failure(`unknown host operation "${op}"`);
    const state = host.state;
    if (!state) return failure('this node offers no state', 'unavailable');
    const key = str(args, 'key') ?? '';
    const global = args.global === true;
    switch (op) {
      case 'state.get': {
        const offset = int(args, 'offset') ?? 0;
        const length = int(args, 'length');
        const size = state.size(key);
        if (size === undefined) return { header: { found: false } };
        const value = offset === 0 && length === undefined ? state.get(key) : state.read(key, offset, length ?? size);
        return { header: { found: true, length: size }, body: value ?? Buffer.alloc(0) };
      }
      case 'state.size': {
        const size = state.size(key);
        return { header: size === undefined ? { found: false } : { found: true, length: size } };
      }
      case 'state.set':
        state.set(key, body);
        return { header: { length: body.length } };
      case 'state.write':
        return { header: { length: state.write(key, int(args, 'offset') ?? 0, body) } };
      case 'state.append':
        return { header: { length: state.append(key, body) } };
      case 'state.delete':
        return { header: { deleted: state.delete(key) } };
      case 'state.lock':
        await state.lock(key, parent.id, global);
        return { header: {} };
      case 'state.unlock':
        await state.unlock(key, parent.id, global);
        return { header: {} };
      case 'state.push':
        await state.push(key);
        return { header: {} };
      case 'state.pull': {
        const found = await state.pull(key);
        return { header: found ? { found, length: state.size(key) ?? 0 } : { found } };
      }
      default:
        return failure(`unknown host operation "${op}"`);
    }
  }
}
