/**
 * The OpenFaaS profile's invocation paths, /function/{name} and /async-function/{name}, as
 * faas-cli (proxy/invoke.go) and the gateway's queue worker use them.
 * The registry is real; the scheduler and log store are in-test fakes of Tern's interfaces.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createOpenfaasProfile } from '../../src/compat/openfaas/index.js';
import {
  ADMIN,
  clearHarness,
  IMAGES,
  result,
  startHarness,
  type Harness,
} from '../fixtures/compat/openfaas/harness.js';

let h: Harness;

before(async () => {
  h = await startHarness(createOpenfaasProfile({ imagesDir: IMAGES }));
});
after(async () => h.close());

const clear = () => clearHarness(h);

describe('invocation: /function/{name}', () => {
  beforeEach(async () => {
    await clear();
    await h.registry.deployFolder('echo', join(IMAGES, 'echo'));
  });

  test('method, sub-path, query, headers and body reach the function; its reply comes back', async () => {
    // faas-cli proxy/invoke.go: the gateway URL + /function/ + name + query, Content-Type and -H headers.
    const res = await h.app.inject({
      method: 'PUT',
      url: '/function/echo/a/b?x=1&y=2',
      headers: {
        'content-type': 'text/plain',
        'user-agent': 'faas-cli/0.17.0 (openfaas; linux; amd64)',
        'x-test': 'yes',
      },
      payload: 'hello',
    });
    assert.equal(res.statusCode, 200);
    const seen = JSON.parse(res.body);
    assert.equal(seen.function, 'echo');
    assert.equal(seen.method, 'PUT');
    assert.equal(seen.path, '/a/b');
    assert.equal(seen.query, 'x=1&y=2');
    assert.equal(seen.body, 'hello');
    assert.equal(seen.trigger, 'compat');
    assert.equal(seen.headers['x-test'], 'yes');
    assert.equal(seen.headers['user-agent'], 'faas-cli/0.17.0 (openfaas; linux; amd64)');
    assert.match(seen.headers['x-start-time'], /^\d{19}$/);
    assert.ok(seen.headers['x-forwarded-for']);
    assert.equal(seen.headers['x-call-id'], res.headers['x-call-id']);
    assert.equal(res.headers['x-start-time'], seen.headers['x-start-time']);
    assert.equal(res.headers['x-seen'], 'yes');
    assert.equal(res.headers['content-type'], 'application/json');
    assert.ok(JSON.parse(res.headers['x-tern-report'] as string).node);
  });

  test('a caller-given X-Call-Id is passed on and echoed', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/function/echo',
      headers: { 'x-call-id': 'my-call' },
      payload: '',
    });
    assert.equal(res.headers['x-call-id'], 'my-call');
    assert.equal(JSON.parse(res.body).headers['x-call-id'], 'my-call');
    assert.equal(JSON.parse(res.body).path, '/');
  });

  test('name.openfaas-fn is the same function; another namespace or an unknown name: 404', async () => {
    const qualified = await h.app.inject({ method: 'GET', url: '/function/echo.openfaas-fn/x' });
    assert.equal(qualified.statusCode, 200);
    assert.equal(JSON.parse(qualified.body).path, '/x');
    const other = await h.app.inject({ method: 'GET', url: '/function/echo.other' });
    assert.equal(other.statusCode, 404);
    assert.equal(other.body, 'error finding function echo.other: not found');
    const unknown = await h.app.inject({ method: 'GET', url: '/function/nope' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.body, 'error finding function nope.openfaas-fn: not found');
  });

  test("Content-Type: the function's, else the request's, else text/plain", async () => {
    h.scheduler.respond = (inv) => result(inv, 201, {}, 'made');
    try {
      const withType = await h.app.inject({
        method: 'POST',
        url: '/function/echo',
        headers: { 'content-type': 'application/x-custom' },
        payload: 'x',
      });
      assert.equal(withType.statusCode, 201);
      assert.equal(withType.headers['content-type'], 'application/x-custom');
      const without = await h.app.inject({ method: 'GET', url: '/function/echo' });
      assert.equal(without.headers['content-type'], 'text/plain');
      assert.equal(without.body, 'made');
    } finally {
      h.scheduler.respond = (await import('../fixtures/compat/openfaas/harness.js')).echo;
    }
  });

  test('the invocation path is open, except for private functions', async () => {
    await h.registry.deployFolder('secret-fn', join(IMAGES, 'echo'));
    const fn = h.registry.get('secret-fn')!;
    (fn.spec as { private: boolean }).private = true;
    const open = await h.app.inject({ method: 'GET', url: '/function/secret-fn' });
    assert.equal(open.statusCode, 401);
    const authed = await h.app.inject({ method: 'GET', url: '/function/secret-fn', headers: { authorization: ADMIN } });
    assert.equal(authed.statusCode, 200);
  });

  test('a body over the limit: 413', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/function/echo',
      payload: Buffer.alloc(h.deps.limits.bodyBytes + 1),
    });
    assert.equal(res.statusCode, 413);
  });
});

describe('invocation: /async-function/{name}', () => {
  beforeEach(async () => {
    await clear();
    await h.registry.deployFolder('echo', join(IMAGES, 'echo'));
  });

  test('without X-Callback-Url: 202 with X-Call-Id, recorded as an async call (POST to the function)', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/async-function/echo/sub?q=1',
      headers: { 'content-type': 'text/plain' },
      payload: 'later',
    });
    assert.equal(res.statusCode, 202);
    assert.equal(res.body, '');
    const inv = h.scheduler.submitted[0]!;
    assert.equal(res.headers['x-call-id'], inv.id, 'the call id is the Tern call id, pollable at /v1/calls/{id}');
    assert.equal(inv.method, 'POST');
    assert.equal(inv.path, '/sub');
    assert.equal(inv.query, 'q=1');
    assert.equal(inv.body.toString(), 'later');
    assert.equal(inv.headers['x-call-id'], inv.id);
  });

  test('/async-function/{name}.{namespace}: the default namespace only', async () => {
    assert.equal((await h.app.inject({ method: 'POST', url: '/async-function/echo.openfaas-fn' })).statusCode, 202);
    assert.equal(h.scheduler.submitted[0]!.function, 'echo');
    assert.equal((await h.app.inject({ method: 'POST', url: '/async-function/echo.other' })).statusCode, 404);
  });

  test('unknown function: 404; not POST: 405; a bad callback URL: 400', async () => {
    assert.equal((await h.app.inject({ method: 'POST', url: '/async-function/nope' })).statusCode, 404);
    assert.equal((await h.app.inject({ method: 'GET', url: '/async-function/echo' })).statusCode, 405);
    for (const url of ['not a url', 'ftp://127.0.0.1/x']) {
      const res = await h.app.inject({
        method: 'POST',
        url: '/async-function/echo',
        headers: { 'x-callback-url': url },
      });
      assert.equal(res.statusCode, 400, url);
      assert.match(res.body, /X-Callback-Url/);
    }
    assert.equal(h.scheduler.submitted.length, 0);
  });

  test("with X-Callback-Url: the result is POSTed there with the queue worker's headers", async () => {
    const received = new Promise<{ req: IncomingMessage; body: string }>((resolve) => {
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          res.end('thanks');
          server.close();
          resolve({ req, body });
        });
      });
      server.listen(0, '127.0.0.1', () => {
        const port = (server.address() as AddressInfo).port;
        void h.app
          .inject({
            method: 'POST',
            url: '/async-function/echo/cb?z=9',
            headers: { 'x-callback-url': `http://127.0.0.1:${port}/done?k=v`, 'content-type': 'text/plain' },
            payload: 'payload',
          })
          .then((res) => {
            assert.equal(res.statusCode, 202);
            callId = res.headers['x-call-id'] as string;
          });
      });
    });
    let callId = '';
    const { req, body } = await received;
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/done?k=v');
    assert.equal(req.headers['x-call-id'], callId);
    assert.equal(req.headers['x-function-status'], '200');
    assert.equal(req.headers['x-function-name'], 'echo');
    assert.match(req.headers['x-duration-seconds'] as string, /^\d+\.\d{6}$/);
    assert.equal(req.headers['x-seen'], 'yes', "the function's own headers");
    assert.equal(req.headers['content-type'], 'application/json');
    const seen = JSON.parse(body);
    assert.equal(seen.method, 'POST');
    assert.equal(seen.path, '/cb');
    assert.equal(seen.query, 'z=9');
    assert.equal(seen.body, 'payload');
    assert.equal(h.scheduler.submitted.length, 0, 'callback calls run directly, not as recorded calls');
  });
});
