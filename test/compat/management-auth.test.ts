/**
 * Secure by default: the deploy/delete routes of the Faasm, Serverledge and tinyFaaS profiles need the
 * node token unless `open-management = true`; their invocation routes stay open. A wrong token is the
 * same refusal everywhere: 401 with WWW-Authenticate, on the native API and on every adapter.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { packFiles } from '../helpers/archive.js';
import { REPO } from '../helpers/node.js';
import { startCompatNode, type CompatNode } from '../fixtures/compat/openfaas/node.js';

/** Faasm reaches it as demo/priv. */
const PRIVATE_FN = 'demo-priv';
const WRONG = 'Bearer not-the-node-token-at-all';

let node: CompatNode;
before(async () => {
  node = await startCompatNode(['faasm', 'serverledge', 'tinyfaas', 'openfaas', 'unifaas'], { openManagement: false });
  const echo = join(REPO, 'examples/echo');
  const archive = await packFiles({
    'function.toml': `name = "${PRIVATE_FN}"\nruntime = "wasm"\nhandler = "echo.wasm"\nprivate = true\n`,
    'echo.wasm': await readFile(join(echo, 'echo.wasm')),
  });
  const res = await node.node.api('PUT', `/v1/functions/${PRIVATE_FN}`, {
    body: archive,
    headers: { 'content-type': 'application/gzip' },
  });
  assert.ok(res.status === 201 || res.status === 200, await res.text());
});
after(async () => {
  await node.stop();
});

type Open = 'faasm' | 'serverledge' | 'tinyfaas';
const calls: [profile: Open, method: string, path: string][] = [
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

test('a wrong token is 401 with WWW-Authenticate on the native API and every adapter, never 403', async () => {
  const wrongBasic = `Basic ${Buffer.from('admin:not-the-node-token').toString('base64')}`;
  const refusals: [what: string, url: string, method: string, authorization: string][] = [
    ['native management', `${node.node.url}/v1/functions`, 'GET', WRONG],
    ['openfaas management', `${node.urls.openfaas}/system/functions`, 'GET', wrongBasic],
    ...calls.map(([p, method, path]): [string, string, string, string] => [
      `${p} ${path}`,
      `${node.urls[p]}${path}`,
      method,
      WRONG,
    ]),
  ];
  for (const [what, url, method, authorization] of refusals) {
    const res = await fetch(url, { method, headers: { authorization }, body: method === 'GET' ? undefined : '{}' });
    assert.equal(res.status, 401, `${what}: ${await res.text()}`);
    assert.ok(res.headers.get('www-authenticate'), `${what}: WWW-Authenticate`);
  }
});

test('a private function called with a wrong token: 401 with WWW-Authenticate through every adapter', async () => {
  const invocations: [what: string, url: string, body: string][] = [
    ['native', `${node.node.url}/fn/${PRIVATE_FN}`, 'x'],
    ['openfaas', `${node.urls.openfaas}/function/${PRIVATE_FN}`, 'x'],
    ['faasm', `${node.urls.faasm}/`, JSON.stringify({ user: 'demo', function: 'priv', input_data: 'x' })],
    ['serverledge', `${node.urls.serverledge}/invoke/${PRIVATE_FN}`, '{}'],
    ['tinyfaas', `${node.urls.tinyfaas}/${PRIVATE_FN}`, 'x'],
    ['unifaas', `${node.urls.unifaas}/invoke/${PRIVATE_FN}/`, 'x'],
  ];
  for (const [what, url, body] of invocations) {
    const res = await fetch(url, { method: 'POST', headers: { authorization: WRONG }, body });
    assert.equal(res.status, 401, `${what}: ${await res.text()}`);
    assert.ok(res.headers.get('www-authenticate'), `${what}: WWW-Authenticate`);
    const right = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${node.node.token}` }, body });
    assert.equal(right.status, 200, `${what} with the token: ${await right.text()}`);
  }
});
