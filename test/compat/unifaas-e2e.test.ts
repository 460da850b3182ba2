/**
 * UniFaaS against a real `tern serve --registry <UniFaaS registry folder>` with
 * `[compat.unifaas] enabled = true`: functions named by folder, UniFaaS keys honoured, invoked on
 * UniFaaS's path (OpenFogStack/unikernel-edge-faas README: `/invoke/foo/hello` calls `/hello` on foo).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureBuilt, FIXTURES } from '../fixtures/compat/openfaas/harness.js';
import { startCompatNode, type CompatNode } from '../fixtures/compat/openfaas/node.js';

const REGISTRY = join(FIXTURES, 'unifaas/registry');
let n: CompatNode;
let base: string;

before(async () => {
  ensureBuilt(join(REGISTRY, 'hello-wasm/build.sh'), join(REGISTRY, 'hello-wasm/build/hello.wasm'));
  n = await startCompatNode(['unifaas'], { args: ['--registry', REGISTRY] });
  base = n.urls.unifaas!;
});
after(async () => n.stop());

describe('a UniFaaS registry folder on a real node', () => {
  test('a wasm function: GET /invoke/hello-wasm/hello?x=1', async () => {
    const res = await fetch(`${base}/invoke/hello-wasm/hello?x=1`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-unifaas-test'), '1');
    assert.equal(await res.text(), 'unifaas GET /hello ?x=1 body=\n');
    assert.equal(JSON.parse(res.headers.get('x-tern-report')!).function, 'hello-wasm');
  });

  test('a python function, with a body', async () => {
    const res = await fetch(`${base}/invoke/hello-py/abc?q=2`, { method: 'POST', body: 'pp' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'python POST /abc ?q=2 body=pp\n');
  });

  test('UniFaaS keys as the node applies them: keepalive seconds, single-use, concurrent-requests', async () => {
    const wasm = (await (await n.node.api('GET', '/v1/functions/hello-wasm')).json()) as {
      spec: { keepaliveMs: number; singleUse: boolean; concurrentRequests: number };
    };
    assert.deepEqual(
      [wasm.spec.keepaliveMs, wasm.spec.singleUse, wasm.spec.concurrentRequests],
      [100_000_000, true, 1],
    );
    const py = (await (await n.node.api('GET', '/v1/functions/hello-py')).json()) as {
      spec: { keepaliveMs: number; singleUse: boolean; concurrentRequests: number };
    };
    assert.deepEqual([py.spec.keepaliveMs, py.spec.singleUse, py.spec.concurrentRequests], [1000, false, 2]);
  });

  test('the [vm] function is listed in the folder but cannot load without its kernel: reported, not fatal', async () => {
    assert.match(n.node.output(), /cannot load function nanos-go/);
    const res = await fetch(`${base}/invoke/nanos-go/x`);
    assert.equal(res.status, 404);
    assert.equal(await res.text(), 'error: no function "nanos-go"');
  });
});
