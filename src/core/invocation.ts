/**
 * The invocation: one call of one function, as every layer sees it.
 * Triggers and compat adapters build it; the scheduler, pool and runtimes consume it.
 */
export type TriggerKind = 'http' | 'coap' | 'grpc' | 'async' | 'chain' | 'offload' | 'compat';

export interface Invocation {
  /** Unique call id (also the async call id). */
  readonly id: string;
  /** Function name. */
  readonly function: string;
  /** HTTP-style method, upper case. */
  readonly method: string;
  /** The path after the function name, always starting with "/" ("/" when empty). */
  readonly path: string;
  /** Raw query string without the leading "?" ("" when none). */
  readonly query: string;
  /** Request headers, names lower-cased. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  readonly trigger: TriggerKind;
  /** Offload hops already taken (0 when the call entered the cluster here). */
  readonly hops: number;
  /** Chain depth: 0 for a call from outside, parent depth + 1 for a chained call. */
  readonly depth: number;
  /** Call id of the chaining parent, if any. */
  readonly parent?: string;
  /** performance.now() when the node received it; queue and total times count from here. */
  readonly receivedAt: number;
}

export interface InvocationInit {
  function: string;
  method?: string;
  path?: string;
  query?: string;
  headers?: Record<string, string>;
  body?: Buffer;
  trigger: TriggerKind;
  id?: string;
  hops?: number;
  depth?: number;
  parent?: string;
}

let counter = 0;
const prefix = Math.floor(Date.now() / 1000).toString(36);

/** Short, unique, sortable-enough call ids without crypto on the hot path. */
export function newCallId(): string {
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${prefix}-${counter.toString(36)}-${Math.floor(Math.random() * 0xffffff).toString(36)}`;
}

export function createInvocation(init: InvocationInit): Invocation {
  const path =
    init.path === undefined || init.path === '' ? '/' : init.path.startsWith('/') ? init.path : `/${init.path}`;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(init.headers ?? {})) headers[k.toLowerCase()] = v;
  return {
    id: init.id ?? newCallId(),
    function: init.function,
    method: (init.method ?? 'GET').toUpperCase(),
    path,
    query: init.query ?? '',
    headers,
    body: init.body ?? Buffer.alloc(0),
    trigger: init.trigger,
    hops: init.hops ?? 0,
    depth: init.depth ?? 0,
    ...(init.parent !== undefined ? { parent: init.parent } : {}),
    receivedAt: performance.now(),
  };
}
