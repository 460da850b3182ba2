/**
 * Secure by default: the deploy/delete routes of the Faasm, Serverledge and tinyFaaS profiles need the
 * node token unless `open-management = true`; their invocation routes stay open.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startCompatNode, type CompatNode } from '../fixtures/compat/openfaas/node.js';

let node: CompatNode;
before(async () => {
  node = await startCompatNode(['faasm', 'serverledge', 'tinyfaas'], { openManagement: false });
});
after(async () => {
  await node.stop();
});

const calls: [profile: 'faasm' | 'serverledge' | 'tinyfaas', method: string, path: string][] = [
  ['faasm', 'PUT', '/f/demo/echo'],
  ['serverledge', 'POST', '/create'],
  ['serverledge', 'POST', '/delete'],
  ['tinyfaas', 'POST', '/upload'],
  ['tinyfaas', 'POST', '/wipe'],
  ['tinyfaas', 'GET', '/logs'],
];

test('management routes refuse calls without the token', async () => {
  for (const [profile, method, path] of calls) {
    const res = await fetch(`${node.urls[profile]}${path}`, { method, body: method === 'GET' ? undefined : '{}' });
    assert.equal(res.status, 401, `${profile} ${method} ${path}`);
    assert.match(await res.text(), /token/);
  }
});

test('with the token they reach the adapter', async () => {
  for (const [profile, method, path] of calls) {
    const res = await fetch(`${node.urls[profile]}${path}`, {
      method,
      body: method === 'GET' ? undefined : '{}',
      headers: { authorization: `Bearer ${node.node.token}` },
    });
    assert.notEqual(res.status, 401, `${profile} ${method} ${path}`);
  }
});

test('invocation routes stay open', async () => {
  const res = await fetch(`${node.urls.serverledge}/invoke/no-such-fn`, { method: 'POST', body: '{}' });
  assert.equal(res.status, 404);
});
