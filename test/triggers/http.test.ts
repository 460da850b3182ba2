/**
 * The HTTP trigger's lean path (src/triggers/http/fast-path.ts) answers exactly as the fastify
 * routes do. Each request goes twice to the same gateway: over a real socket (the lean path takes
 * it) and through fastify's inject (the fastify routes and error handler take it); the answers
 * must match. The scheduler and registry are in-test fakes; the server is the real one.
 */
import { strict as assert } from 'node:assert';
import { Agent, request, type IncomingHttpHeaders } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { TernError } from '../../src/core/errors.js';
import type { Invocation } from '../../src/core/invocation.js';
import { emptyReport } from '../../src/core/report.js';
import { errorResult, type Result } from '../../src/core/result.js';
import type { GatewayDeps } from '../../src/gateway/deps.js';
import { buildServer } from '../../src/gateway/server.js';
import type { DeployedFunction, Registry } from '../../src/registry/registry.js';
import { normaliseSpec } from '../../src/registry/spec.js';
import type { CallRecord, Scheduler } from '../../src/scheduler/types.js';

const TOKEN = 'test-token-0123456789';
const BODY_LIMIT = 1024;
const NAMES = ['echo', 'bare', 'empty', 'busy', 'secret'];

function deployed(name: string): DeployedFunction {
  return {
    spec: normaliseSpec({ name, runtime: 'wasm', handler: 'f.wasm', private: name === 'secret' }),
    dir: '/nonexistent',
    version: 'v1',
    deployedAt: '2026-01-01T00:00:00.000Z',
  };
}

/** A function per name: echo shows what it received, the others answer in shapes the writer treats specially. */
function answer(inv: Invocation): Result {
  const report = { ...emptyReport('test-node', inv.function), instance: `${inv.function}-1`, runMs: 0.25 };
  switch (inv.function) {
    case 'echo':
    case 'secret': {
      const seen = {
        method: inv.method,
        path: inv.path,
        query: inv.query,
        test: inv.headers['x-test'] ?? null,
        type: inv.headers['content-type'] ?? null,
        body: inv.body.toString(),
      };
      // `connection` is hop-by-hop: the trigger must drop it.
      return {
        status: 200,
        headers: { 'content-type': 'application/json', 'x-fn': 'yes', connection: 'keep-alive' },
        body: Buffer.from(JSON.stringify(seen)),
        report,
      };
    }
    case 'bare':
      return { status: 201, headers: {}, body: Buffer.from('no content type'), report };
    case 'empty':
      return { status: 204, headers: { 'content-type': 'text/plain' }, body: Buffer.from('dropped'), report };
    case 'busy':
      return errorResult(new TernError('queue_full', 'the queue of "busy" is full', { 'retry-after': '3' }), report);
    default:
      return errorResult(new TernError('not_found', `no function "${inv.function}"`), report);
  }
}

/** As the real scheduler refuses a private function to a call without the token. */
function privateRefusal(inv: Invocation): TernError | undefined {
  if (inv.function !== 'secret' || inv.authenticated) return undefined;
  return new TernError('unauthorized', 'function "secret" is private', { 'www-authenticate': 'Bearer' });
}

const scheduler: Scheduler = {
  invoke: async (inv) => {
    const refusal = privateRefusal(inv);
    return refusal ? errorResult(refusal, emptyReport('test-node', inv.function)) : answer(inv);
  },
  submit: async (inv): Promise<CallRecord> => {
    if (!NAMES.includes(inv.function)) throw new TernError('not_found', `no function "${inv.function}"`);
    const refusal = privateRefusal(inv);
    if (refusal) throw refusal;
    return { id: inv.id, function: inv.function, state: 'queued', createdAt: new Date().toISOString() };
  },
  call: () => undefined,
  status: () => undefined,
  capacity: () => ({ memoryMiB: 100, usedMiB: 0 }),
  close: async () => {},
};

const registry: Registry = {
  open: async () => {},
  list: () => NAMES.map(deployed),
  get: (name) => (NAMES.includes(name) ? deployed(name) : undefined),
  deploy: async () => {
    throw new Error('not in this fake');
  },
  deployFolder: async () => {
    throw new Error('not in this fake');
  },
  remove: async () => undefined,
  prune: async () => {},
  subscribe: () => () => {},
  close: async () => {},
};

const deps: GatewayDeps = {
  nodeName: 'test-node',
  version: '0.0.0',
  token: TOKEN,
  limits: { bodyBytes: BODY_LIMIT, archiveBytes: 1 << 20 },
  registry,
  scheduler,
  runtimes: () => [],
  triggers: () => ({}),
  logs: { read: async () => [], follow: () => () => {} },
  metrics: { contentType: 'text/plain', render: async () => '' },
  nodes: async () => [],
  settled: async () => {},
  recentCalls: () => [],
};

interface Req {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Headers node or the transport add, and per-call ids: not part of the comparison. */
const TRANSPORT = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'x-tern-call-id']);

function normalise(
  status: number,
  raw: IncomingHttpHeaders | Record<string, string | string[] | number | undefined>,
  body: string,
): Answer {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (v !== undefined && !TRANSPORT.has(k)) headers[k] = String(v);
  // An async call's id is in its location and body (and so in the body's length).
  if (headers['location']) {
    headers['location'] = headers['location'].replace(/[^/]+$/, '<id>');
    headers['content-length'] = '<n>';
  }
  return { status, headers, body: body.replace(/"id":"[^"]+"/, '"id":"<id>"') };
}

let app: FastifyInstance;
let port = 0;
/** Requests that reached fastify's own request handling (inject, or declined by the lean path). */
let viaFastify = 0;
/** Keep-alive, so that a `connection: close` in an answer is the server's own. */
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function overSocket(r: Req): Promise<Answer & { raw: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    // node's client frames a GET, DELETE or OPTIONS body only when told its length.
    const headers = {
      ...(r.body !== undefined ? { 'content-length': String(Buffer.byteLength(r.body)) } : {}),
      ...r.headers,
    };
    const req = request({ host: '127.0.0.1', port, method: r.method, path: r.url, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ ...normalise(res.statusCode ?? 0, res.headers, Buffer.concat(chunks).toString()), raw: res.headers }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(r.body);
  });
}

async function viaInject(r: Req): Promise<Answer> {
  const res = await app.inject({
    method: r.method as 'GET',
    url: r.url,
    headers: r.headers ?? {},
    ...(r.body !== undefined ? { payload: r.body } : {}),
  });
  return normalise(res.statusCode, res.headers, res.body);
}

/** Same answer both ways, and the socket one never touched fastify. */
async function same(r: Req): Promise<Answer & { raw: IncomingHttpHeaders }> {
  const before = viaFastify;
  const lean = await overSocket(r);
  assert.equal(viaFastify, before, `${r.method} ${r.url} reached fastify`);
  const { raw: _raw, ...answer } = lean;
  assert.deepEqual(answer, await viaInject(r), `${r.method} ${r.url}`);
  return lean;
}

describe('HTTP trigger: the lean path answers as the fastify routes do', () => {
  before(async () => {
    app = await buildServer(deps);
    app.addHook('onRequest', async () => {
      viaFastify++;
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address();
    port = typeof address === 'object' && address ? address.port : 0;
  });
  after(async () => {
    agent.destroy();
    await app.close();
  });

  test('calls with and without a body, every method', async () => {
    const seen = await same({
      method: 'POST',
      url: '/fn/echo/a/b?x=1&y=2',
      headers: { 'content-type': 'text/plain', 'x-test': 'yes' },
      body: 'hello',
    });
    assert.equal(seen.status, 200);
    assert.deepEqual(JSON.parse(seen.body), {
      method: 'POST',
      path: '/a/b',
      query: 'x=1&y=2',
      test: 'yes',
      type: 'text/plain',
      body: 'hello',
    });
    assert.equal(seen.headers['x-fn'], 'yes');
    assert.equal(JSON.parse(seen.headers['x-tern-report']!).instance, 'echo-1');
    assert.ok(seen.raw['x-tern-call-id']);
    await same({ method: 'POST', url: '/fn/echo', body: 'no content type' });
    await same({
      method: 'POST',
      url: '/fn/echo/',
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: '{"a":1}',
    });
    // GET and HEAD never read a body.
    await same({ method: 'GET', url: '/fn/echo?q', headers: { 'content-type': 'text/plain' }, body: 'ignored' });
    await same({ method: 'HEAD', url: '/fn/echo' });
    for (const method of ['PUT', 'PATCH', 'DELETE', 'OPTIONS']) await same({ method, url: '/fn/echo/x', body: 'abc' });
    await same({ method: 'DELETE', url: '/fn/echo' });
  });

  test('status and header rules of the reply', async () => {
    assert.equal((await same({ method: 'GET', url: '/fn/bare' })).headers['content-type'], 'application/octet-stream');
    const empty = await same({ method: 'GET', url: '/fn/empty' });
    assert.equal(empty.status, 204);
    assert.equal(empty.body, '');
    const busy = await same({ method: 'GET', url: '/fn/busy' });
    assert.equal(busy.status, 429);
    assert.equal(busy.headers['retry-after'], '3');
    assert.equal((await same({ method: 'GET', url: '/fn/nope' })).status, 404);
    assert.equal((await same({ method: 'GET', url: '/fn/' })).status, 404);
  });

  test('private functions need the token', async () => {
    assert.equal((await same({ method: 'POST', url: '/fn/secret', body: 'x' })).status, 401);
    assert.equal(
      (await same({ method: 'POST', url: '/fn/secret', headers: { authorization: 'Bearer wrong' }, body: 'x' })).status,
      401,
    );
    assert.equal(
      (await same({ method: 'POST', url: '/fn/secret', headers: { authorization: `Bearer ${TOKEN}` }, body: 'x' }))
        .status,
      200,
    );
    assert.equal((await same({ method: 'POST', url: '/async/fn/secret', body: 'x' })).status, 401);
  });

  test('async calls', async () => {
    const accepted = await same({
      method: 'POST',
      url: '/async/fn/echo/p?q=1',
      headers: { 'content-type': 'text/plain' },
      body: 'later',
    });
    assert.equal(accepted.status, 202);
    assert.match(accepted.raw['location'] ?? '', /^\/v1\/calls\/.+/);
    assert.equal((await same({ method: 'POST', url: '/async/fn/nope', body: 'x' })).status, 404);
    await same({ method: 'HEAD', url: '/async/fn/echo' });
  });

  test('the body limit: 413 and the connection closed, before the function or its token is looked at', async () => {
    const atLimit = await same({
      method: 'POST',
      url: '/fn/echo',
      headers: { 'content-type': 'text/plain' },
      body: 'x'.repeat(BODY_LIMIT),
    });
    assert.equal(atLimit.status, 200);
    for (const url of ['/fn/echo', '/fn/secret', '/async/fn/echo', '/fn/nope']) {
      const over = await same({
        method: 'POST',
        url,
        headers: { 'content-type': 'text/plain' },
        body: 'x'.repeat(BODY_LIMIT + 1),
      });
      assert.equal(over.status, 413);
      assert.equal(over.raw['connection'], 'close');
      assert.deepEqual(JSON.parse(over.body), { error: { code: 'too_large', message: 'Request body is too large' } });
    }
  });

  test('what the lean path does not take reaches fastify, which answers as before', async () => {
    const declined = async (r: Req): Promise<Answer> => {
      const before = viaFastify;
      const answer = await overSocket(r);
      assert.equal(viaFastify, before + 1, `${r.method} ${r.url} did not reach fastify`);
      return answer;
    };
    const encoded = await declined({
      method: 'POST',
      url: '/fn/ech%6F/a',
      headers: { 'content-type': 'text/plain' },
      body: 'pct',
    });
    assert.equal(JSON.parse(encoded.body).path, '/a');
    assert.equal(
      (await declined({ method: 'POST', url: '/fn/echo', headers: { 'content-type': '???' }, body: 'x' })).status,
      415,
    );
    assert.equal((await declined({ method: 'TRACE', url: '/fn/echo' })).status, 404);
    // The router answers this one itself, before any hook.
    assert.equal((await overSocket({ method: 'GET', url: `/fn/${'a'.repeat(501)}` })).status, 414);
  });
});
