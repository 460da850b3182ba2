/**
 * A TriggerContext whose invoke acts like a handful of tiny functions, and a registry fake that
 * emits events: in-test fakes of Tern's own interfaces, so the triggers meet real clients.
 */
import { pino } from 'pino';
import { errorResult, type Result } from '../../src/core/result.js';
import { emptyReport } from '../../src/core/report.js';
import { TernError } from '../../src/core/errors.js';
import type { Invocation } from '../../src/core/invocation.js';
import type { DeployedFunction, RegistryEvent } from '../../src/registry/registry.js';
import { parseFunctionToml } from '../../src/registry/spec.js';
import type { TriggerContext } from '../../src/triggers/trigger.js';

export const NODE_NAME = 'test-node';

export interface FakeContext extends TriggerContext {
  calls: Invocation[];
  /** Deploy (or replace) a function from function.toml text and tell subscribers. */
  deploy(toml: string): void;
  /** Calls to "gate" wait until this is called. */
  openGate(): void;
  gateReached: Promise<void>;
}

function ok(inv: Invocation, status: number, headers: Record<string, string>, body: Buffer): Result {
  return { status, headers, body, report: { ...emptyReport(NODE_NAME, inv.function), instance: 'i-1', runMs: 0.5 } };
}

/** What the request looked like to the function. */
export interface Seen {
  function: string;
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  body: string;
}

function describe(inv: Invocation): Seen {
  return {
    function: inv.function,
    method: inv.method,
    path: inv.path,
    query: inv.query,
    headers: { ...inv.headers },
    body: inv.body.toString('utf8'),
  };
}

export function fakeContext(opts: { maxBodyBytes?: number } = {}): FakeContext {
  const functions = new Map<string, DeployedFunction>();
  const listeners = new Set<(e: RegistryEvent) => void>();
  let openGate: () => void = () => undefined;
  let gateReached: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  const reached = new Promise<void>((resolve) => (gateReached = resolve));
  const calls: Invocation[] = [];

  const functionsByName: Record<string, (inv: Invocation) => Promise<Result> | Result> = {
    // The body back, with the request's content type.
    echo: (inv) => ok(inv, 200, { 'content-type': inv.headers['content-type'] ?? 'text/plain' }, inv.body),
    // The request as JSON.
    info: (inv) => ok(inv, 200, { 'content-type': 'application/json' }, Buffer.from(JSON.stringify(describe(inv)))),
    // Status and headers from the query: ?status=204&retry-after=7
    status: (inv) => {
      const q = new URLSearchParams(inv.query);
      const headers: Record<string, string> = {};
      const retry = q.get('retry-after');
      if (retry !== null) headers['retry-after'] = retry;
      return ok(inv, Number(q.get('status') ?? 200), headers, Buffer.from(q.get('body') ?? ''));
    },
    // Over gRPC there is no query: the body says `status[,retry-after]`.
    'grpc-status': (inv) => {
      const [status, retry] = inv.body.toString().split(',');
      return ok(
        inv,
        Number(status),
        retry !== undefined ? { 'retry-after': retry } : {},
        Buffer.from(`function said ${status}`),
      );
    },
    gate: async (inv) => {
      gateReached();
      await gate;
      return ok(inv, 200, { 'content-type': 'text/plain' }, Buffer.from('opened'));
    },
    secret: (inv) => ok(inv, 200, {}, Buffer.from('secret')),
  };

  return {
    calls,
    nodeName: NODE_NAME,
    logger: pino({ level: 'silent' }),
    maxBodyBytes: opts.maxBodyBytes ?? 8192,
    registry: {
      list: () => [...functions.values()],
      get: (name) => functions.get(name),
      subscribe: (listener) => {
        listeners.add(listener);
        return () => listeners.delete(listener);
      },
    },
    async invoke(inv) {
      calls.push(inv);
      const registered = functions.get(inv.function);
      const impl = functionsByName[registered?.spec.handler.replace(/\.wasm$/, '') ?? inv.function];
      if (impl === undefined)
        return errorResult(
          new TernError('not_found', `no function "${inv.function}"`),
          emptyReport(NODE_NAME, inv.function),
        );
      return impl(inv);
    },
    deploy(toml) {
      const spec = parseFunctionToml(toml);
      const previous = functions.get(spec.name);
      const fn: DeployedFunction = {
        spec,
        dir: `/nonexistent/${spec.name}`,
        version: '0000000000000000',
        deployedAt: new Date(0).toISOString(),
      };
      functions.set(spec.name, fn);
      for (const l of listeners) l({ type: 'deployed', fn, ...(previous ? { previous } : {}) });
    },
    openGate: () => openGate(),
    gateReached: reached,
  };
}
