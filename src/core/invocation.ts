/**
 * The invocation: one call of one function, as every layer sees it.
 * Triggers and compat adapters build it; the scheduler, pool and runtimes consume it.
 */
import { randomFillSync } from 'node:crypto';

export type TriggerKind =
  'http' | 'coap' | 'grpc' | 'mqtt' | 'schedule' | 'async' | 'chain' | 'offload' | 'compat' | 'workflow';

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
  /**
   * The caller proved it holds the node token (or a peer node vouched for that in a signed
   * request). Private functions run only for such calls; the scheduler decides.
   */
  readonly authenticated: boolean;
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
  authenticated?: boolean;
}

/** Random bytes drawn from the CSPRNG in batches: one syscall per 256 ids, not one per call. */
const ID_BYTES = 16;
const pool = Buffer.alloc(ID_BYTES * 256);
let poolAt = pool.length;

/**
 * A call id: 128 bits from the CSPRNG, base64url (22 characters). An async call's id is the
 * capability to read its result, so it must not be guessable.
 */
export function newCallId(): string {
  if (poolAt === pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const id = pool.toString('base64url', poolAt, poolAt + ID_BYTES);
  poolAt += ID_BYTES;
  return id;
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
    authenticated: init.authenticated ?? false,
  };
}
