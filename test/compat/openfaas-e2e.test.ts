/**
 * OpenFaaS against a real `tern serve` with `[compat.openfaas] enabled = true`: the calls faas-cli
 * makes for deploy (PUT, then POST on 404), list, describe, scale, logs, invoke (sync and
 * --async) and remove (openfaas/faas-cli proxy/*.go), answered by real wasm and python functions.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { basic, ensureBuilt, IMAGES } from '../fixtures/compat/openfaas/harness.js';
import { eventually, startCompatNode, type CompatNode } from '../fixtures/compat/openfaas/node.js';

let n: CompatNode;
let base: string;

const system = (method: string, path: string, body?: unknown) =>
  fetch(`${base}${path}`, {
    method,
    headers: { authorization: basic('admin', n.node.token), 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });

before(async () => {
  ensureBuilt(join(IMAGES, 'echo/build.sh'), join(IMAGES, 'echo/build/echo.wasm'));
  // Named images live in <data>/images: put the echo image there before the node starts.
  const data = await mkdtemp(join(tmpdir(), 'tern-openfaas-e2e-'));
  await cp(join(IMAGES, 'echo'), join(data, 'images/echo'), { recursive: true });
  n = await startCompatNode(['openfaas'], { data });
  base = n.urls.openfaas!;
});
after(async () => n.stop());

describe('faas-cli against a real node', () => {
  test('healthz and info', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const info = (await (await system('GET', '/system/info')).json()) as {
      provider: { provider: string };
      version: { release: string };
    };
    assert.equal(info.provider.provider, 'tern');
    assert.match(info.version.release, /^\d+\.\d+\.\d+/);
  });

  test('deploy (PUT 404, POST 202), invoke, list, describe', async () => {
    const fn = {
      service: 'echo',
      image: 'echo:latest',
      envProcess: 'cat',
      envVars: { GREETING: 'hi' },
      labels: { ctrType: 'wasm' },
      annotations: null,
      limits: { memory: '32Mi' },
    };
    assert.equal((await system('PUT', '/system/functions', fn)).status, 404);
    const post = await system('POST', '/system/functions', fn);
    assert.equal(post.status, 202, await post.text());

    const res = await fetch(`${base}/function/echo/sub?x=1`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello',
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-echo'), 'yes');
    assert.equal(res.headers.get('content-type'), 'application/json');
    const callId = res.headers.get('x-call-id');
    assert.ok(callId);
    assert.deepEqual(await res.json(), {
      method: 'POST',
      path: '/sub',
      query: 'x=1',
      contentType: 'text/plain',
      callId,
      greeting: 'hi',
      fprocess: 'cat',
      body: 'hello',
    });

    const list = (await (await system('GET', '/system/functions')).json()) as Record<string, unknown>[];
    assert.equal(list.length, 1);
    assert.equal(list[0]!.name, 'echo');
    assert.equal(list[0]!.image, 'echo:latest');
    assert.equal(list[0]!.invocationCount, 1);
    assert.deepEqual(list[0]!.limits, { memory: '32Mi' });

    const status = (await (await system('GET', '/system/function/echo')).json()) as Record<string, unknown>;
    assert.equal(status.envProcess, 'cat');
    assert.deepEqual(status.envVars, { GREETING: 'hi' });
    assert.deepEqual(status.labels, { ctrType: 'wasm' });
  });

  test('scale-function 1 keeps a warm instance (availableReplicas, as faas-cli describe/ready read it)', async () => {
    const res = await system('POST', '/system/scale-function/echo', {
      serviceName: 'echo',
      replicas: 1,
      namespace: '',
    });
    assert.equal(res.status, 202);
    const status = await eventually('a warm echo instance', async () => {
      const s = (await (await system('GET', '/system/function/echo')).json()) as {
        replicas: number;
        availableReplicas: number;
      };
      return s.availableReplicas >= 1 ? s : undefined;
    });
    assert.equal(status.replicas, 1);
    assert.equal(
      (await system('POST', '/system/scale-function/echo', { serviceName: 'echo', replicas: 0 })).status,
      202,
    );
  });

  test('invoke --async without a callback: 202, the X-Call-Id is a native call record', async () => {
    const res = await fetch(`${base}/async-function/echo/later`, { method: 'POST', body: 'queued' });
    assert.equal(res.status, 202);
    const id = res.headers.get('x-call-id')!;
    const record = await eventually('the async call to finish', async () => {
      const r = (await (await n.node.api('GET', `/v1/calls/${id}`)).json()) as {
        state: string;
        result?: { status: number; body: string };
      };
      return r.state === 'done' || r.state === 'failed' ? r : undefined;
    });
    assert.equal(record.state, 'done');
    assert.equal(record.result?.status, 200);
    const seen = JSON.parse(Buffer.from(record.result!.body, 'base64').toString()) as {
      method: string;
      path: string;
      body: string;
    };
    assert.deepEqual([seen.method, seen.path, seen.body], ['POST', '/later', 'queued']);
  });

  test('invoke --async with X-Callback-Url: the result is POSTed to the callback', async () => {
    let resolveCallback!: (v: { req: IncomingMessage; body: string }) => void;
    const callback = new Promise<{ req: IncomingMessage; body: string }>((r) => (resolveCallback = r));
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        res.end();
        resolveCallback({ req, body });
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as AddressInfo).port;
      const res = await fetch(`${base}/async-function/echo`, {
        method: 'POST',
        headers: { 'x-callback-url': `http://127.0.0.1:${port}/cb`, 'x-call-id': 'given-id' },
        body: 'ping',
      });
      assert.equal(res.status, 202);
      const { req, body } = await callback;
      assert.equal(req.headers['x-call-id'], 'given-id');
      assert.equal(req.headers['x-function-status'], '200');
      assert.equal(req.headers['x-function-name'], 'echo');
      assert.match(req.headers['x-duration-seconds'] as string, /^\d+\.\d{6}$/);
      assert.equal(req.headers['x-echo'], 'yes');
      const seen = JSON.parse(body) as { callId: string; body: string };
      assert.equal(seen.callId, 'given-id');
      assert.equal(seen.body, 'ping');
    } finally {
      server.close();
    }
  });

  test('a native python folder without function.toml: deploy, invoke, logs', async () => {
    const post = await system('POST', '/system/functions', {
      service: 'hello-py',
      image: join(IMAGES, 'hello-py'),
      labels: { ctrType: 'native' },
    });
    assert.equal(post.status, 202, await post.text());
    const res = await fetch(`${base}/function/hello-py`, { method: 'POST', body: 'bob' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello from python, bob\n');

    const messages = await eventually('the function log line', async () => {
      const text = await (await system('GET', '/system/logs?name=hello-py&follow=false&tail=10')).text();
      const lines =
        text.trim() === ''
          ? []
          : text
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l) as Record<string, string>);
      return lines.some((m) => m.text === 'hello-py called on /') ? lines : undefined;
    });
    const m = messages.find((x) => x.text === 'hello-py called on /')!;
    assert.equal(m.name, 'hello-py');
    assert.equal(m.namespace, 'openfaas-fn');
    assert.ok(m.instance);
    assert.ok(!Number.isNaN(Date.parse(m.timestamp!)));
  });

  test('remove: DELETE 200, then the function is gone', async () => {
    assert.equal((await system('DELETE', '/system/functions', { functionName: 'echo' })).status, 200);
    const res = await fetch(`${base}/function/echo`);
    assert.equal(res.status, 404);
    assert.equal(await res.text(), 'error finding function echo.openfaas-fn: not found');
    assert.equal((await system('DELETE', '/system/functions', { functionName: 'echo' })).status, 404);
  });
});
