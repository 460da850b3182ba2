/**
 * Nobody without the token manages a node, however the request target is spelled. Every
 * management route of every listener (native API, metrics, each compat adapter) is attacked with
 * percent-encodings, absolute-form targets, double slashes, dot segments and case variants; none
 * may answer 2xx or reach a handler. Also: the exact requests of the report that found the hole,
 * private functions and their async results, call ids, and the node token never reaching a function.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packFiles } from '../helpers/archive.js';
import { REPO } from '../helpers/node.js';
import { rawRequest } from '../helpers/raw-http.js';
import { startCompatNode, type CompatNode } from '../fixtures/compat/openfaas/node.js';

let cn: CompatNode;
let echoWasm: Buffer;

const echoToml = (name: string, isPrivate: boolean) =>
  `name = "${name}"\nruntime = "wasm"\nhandler = "echo.wasm"\nmemory = 32\nprivate = ${isPrivate}\n`;

async function archive(name: string, isPrivate = false): Promise<Buffer> {
  return packFiles({ 'function.toml': echoToml(name, isPrivate), 'echo.wasm': echoWasm });
}

before(async () => {
  echoWasm = await readFile(join(REPO, 'examples/echo/echo.wasm'));
  cn = await startCompatNode(['openfaas', 'faasm', 'serverledge', 'tinyfaas', 'unifaas'], { openManagement: false });
  for (const [name, isPrivate] of [
    ['hello', false],
    ['secret', true],
  ] as const) {
    const res = await cn.node.api('PUT', `/v1/functions/${name}`, {
      body: await archive(name, isPrivate),
      headers: { 'content-type': 'application/gzip' },
    });
    assert.equal(res.status, 201, await res.text());
  }
});

after(async () => {
  await cn?.stop();
});

function pct(c: string, lower = false): string {
  const hex = c.charCodeAt(0).toString(16).padStart(2, '0');
  return `%${lower ? hex : hex.toUpperCase()}`;
}

/** Spellings of `target` that a router may take for the same route, or for another one. */
function variants(target: string, authority: string): string[] {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  const out = new Set<string>();
  for (let i = 1; i < path.length; i++) {
    if (path[i] === '/') continue;
    out.add(path.slice(0, i) + pct(path[i]!) + path.slice(i + 1));
    out.add(path.slice(0, i) + pct(path[i]!, true) + path.slice(i + 1));
  }
  out.add(
    path
      .split('/')
      .map((seg) => [...seg].map((c) => pct(c)).join(''))
      .join('/'),
  );
  out.add(`/${path.slice(1).replaceAll('/', '%2F')}`);
  for (const scheme of ['http', 'HTTP', 'https']) out.add(`${scheme}://${authority}${path}`);
  out.add(`http://evil.example${path}`);
  out.add(`http://${authority}/${pct(path[1]!)}${path.slice(2)}`);
  out.add(`/${path}`);
  out.add(path.replace(/\/([^/]*)$/, '//$1'));
  out.add(`/./${path.slice(1)}`);
  out.add(`/x/..${path}`);
  out.add(`/fn/..${path}`);
  out.add(`/x/%2e%2e${path}`);
  out.add(`/x/%2E%2E${path}`);
  out.add(path.replace(/^\/([^/]+)\//, '/$1/./'));
  out.add(path.toUpperCase());
  out.add(path.replace(/^\/([^/]+)/, (_m, seg: string) => `/${seg.toUpperCase()}`));
  out.add(`${path}/`);
  out.add(`${path};x`);
  out.add(`${path}%00`);
  out.add(`${path}#x`);
  return [...out].map((v) => v + query);
}

interface Management {
  listener: 'native' | 'openfaas' | 'faasm' | 'serverledge' | 'tinyfaas';
  method: string;
  target: string;
  body?: () => Promise<Buffer | string>;
  contentType?: string;
}

const MANAGEMENT: Management[] = [
  { listener: 'native', method: 'GET', target: '/v1/functions' },
  { listener: 'native', method: 'GET', target: '/v1/info' },
  { listener: 'native', method: 'GET', target: '/v1/nodes' },
  { listener: 'native', method: 'GET', target: '/v1/functions/hello' },
  { listener: 'native', method: 'GET', target: '/v1/functions/hello/logs' },
  { listener: 'native', method: 'GET', target: '/v1/calls?function=hello' },
  { listener: 'native', method: 'GET', target: '/v1/state' },
  { listener: 'native', method: 'PUT', target: '/v1/state/k', body: async () => 'v' },
  { listener: 'native', method: 'GET', target: '/v1/state/k' },
  { listener: 'native', method: 'DELETE', target: '/v1/state/k' },
  { listener: 'native', method: 'GET', target: '/metrics' },
  {
    listener: 'native',
    method: 'PUT',
    target: '/v1/functions/x',
    body: () => archive('x'),
    contentType: 'application/gzip',
  },
  { listener: 'native', method: 'DELETE', target: '/v1/functions/hello' },
  { listener: 'native', method: 'GET', target: '/v1/workflows' },
  {
    listener: 'native',
    method: 'PUT',
    target: '/v1/workflows/x',
    body: async () => '{"StartAt":"A","States":{"A":{"Type":"Succeed"}}}',
    contentType: 'application/json',
  },
  { listener: 'native', method: 'GET', target: '/v1/workflows/x/runs' },
  { listener: 'native', method: 'DELETE', target: '/v1/workflows/x' },
  { listener: 'openfaas', method: 'GET', target: '/system/functions' },
  { listener: 'openfaas', method: 'GET', target: '/system/info' },
  { listener: 'openfaas', method: 'DELETE', target: '/system/functions', body: async () => '{"functionName":"hello"}' },
  { listener: 'openfaas', method: 'POST', target: '/system/scale-function/hello', body: async () => '{"replicas":0}' },
  { listener: 'openfaas', method: 'GET', target: '/system/logs?name=hello' },
  { listener: 'faasm', method: 'PUT', target: '/f/demo/x', body: async () => echoWasm },
  { listener: 'faasm', method: 'GET', target: '/f/demo/hello' },
  { listener: 'serverledge', method: 'POST', target: '/delete', body: async () => '{"Name":"hello"}' },
  { listener: 'serverledge', method: 'POST', target: '/prewarm', body: async () => '{"Function":"hello"}' },
  { listener: 'serverledge', method: 'GET', target: '/function' },
  { listener: 'serverledge', method: 'GET', target: '/status' },
  {
    listener: 'serverledge',
    method: 'POST',
    target: '/workflow/create',
    body: async () =>
      JSON.stringify({
        Name: 'x',
        ASLSrc: Buffer.from('{"StartAt":"A","States":{"A":{"Type":"Succeed"}}}').toString('base64'),
      }),
  },
  { listener: 'serverledge', method: 'POST', target: '/workflow/delete', body: async () => '{"Name":"x"}' },
  { listener: 'serverledge', method: 'GET', target: '/workflow/list' },
  { listener: 'tinyfaas', method: 'POST', target: '/delete', body: async () => 'hello' },
  { listener: 'tinyfaas', method: 'POST', target: '/wipe' },
  { listener: 'tinyfaas', method: 'GET', target: '/list' },
  { listener: 'tinyfaas', method: 'GET', target: '/logs' },
];

function baseOf(listener: Management['listener']): string {
  return listener === 'native' ? cn.node.url : cn.urls[listener]!;
}

/** Answers that mean "not here" or "not you": anything else reached a handler. */
const REFUSED = new Set([400, 401, 403, 404, 405, 414]);

describe('management routes, every spelling, no token', () => {
  test('the exact requests of the report are refused and deploy nothing', async () => {
    const body = await archive('x');
    const headers = { 'content-type': 'application/gzip' };
    for (const target of ['/%761/functions/x', '/v%31/functions/x']) {
      const res = await rawRequest(cn.node.url, 'PUT', target, { headers, body });
      assert.equal(res.status, 401, `PUT ${target}: ${res.body}`);
    }
    const host = new URL(cn.node.url).host;
    const absolute = await rawRequest(cn.node.url, 'GET', `http://${host}/v1/functions`);
    assert.equal(absolute.status, 401, absolute.body);
    assert.equal((await cn.node.api('GET', '/v1/functions/x')).status, 404, 'nothing was deployed');
  });

  test('no variant of any management route answers without the token', async () => {
    let tried = 0;
    for (const m of MANAGEMENT) {
      const base = baseOf(m.listener);
      const body = m.body ? await m.body() : undefined;
      const headers: Record<string, string> = m.contentType ? { 'content-type': m.contentType } : {};
      for (const target of [m.target, ...variants(m.target, new URL(base).host)]) {
        for (const auth of [
          undefined,
          'Bearer wrong-token',
          `Basic ${Buffer.from('admin:wrong').toString('base64')}`,
        ]) {
          const res = await rawRequest(base, m.method, target, {
            headers: auth ? { ...headers, authorization: auth } : headers,
            ...(body !== undefined ? { body } : {}),
          });
          tried++;
          assert.ok(
            REFUSED.has(res.status),
            `${m.listener} ${m.method} ${target} (${auth ?? 'no token'}) answered ${res.status}: ${res.body.slice(0, 200)}`,
          );
        }
      }
    }
    assert.ok(tried > 1000, `${tried} requests`);
    // Nothing changed: both functions are there, nothing else was deployed, no state was written.
    const list = (await (await cn.node.api('GET', '/v1/functions')).json()) as { functions: { name: string }[] };
    assert.deepEqual(list.functions.map((f) => f.name).sort(), ['hello', 'secret']);
    assert.equal((await cn.node.api('GET', '/v1/state/k')).status, 404);
    assert.equal((await cn.node.api('GET', '/v1/workflows/x')).status, 404, 'no workflow was deployed');
  });

  test('with the token the same routes answer (the sweep above was refused for the right reason)', async () => {
    const res = await rawRequest(cn.node.url, 'GET', '/v%31/functions', {
      headers: { authorization: `Bearer ${cn.node.token}` },
    });
    assert.equal(res.status, 200);
  });
});

describe('invocations', () => {
  test('an absolute-form target reaches the function', async () => {
    const host = new URL(cn.node.url).host;
    const res = await rawRequest(cn.node.url, 'GET', `http://${host}/fn/hello/p?q=1`);
    assert.equal(res.status, 200, res.body);
    assert.match(res.body, /"path":\s*"\/p"/);
  });

  test('a private function needs the token on every listener, however spelled', async () => {
    const calls: [string, string, string][] = [
      [cn.node.url, 'POST', '/fn/secret'],
      [cn.node.url, 'POST', '/%66n/secret'],
      [cn.node.url, 'POST', '/fn/%73ecret'],
      [cn.node.url, 'POST', '/async/fn/secret'],
      [cn.urls.openfaas!, 'POST', '/function/secret'],
      [cn.urls.openfaas!, 'POST', '/async-function/secret'],
      [cn.urls.unifaas!, 'POST', '/invoke/secret'],
      [cn.urls.tinyfaas!, 'POST', '/secret'],
      [cn.urls.serverledge!, 'POST', '/invoke/secret'],
    ];
    for (const [base, method, target] of calls) {
      const res = await rawRequest(base, method, target, { body: '{}' });
      assert.ok(res.status === 401 || res.status === 403, `${base} ${method} ${target}: ${res.status} ${res.body}`);
    }
    const ok = await rawRequest(cn.node.url, 'POST', '/fn/secret', {
      headers: { authorization: `Bearer ${cn.node.token}` },
      body: 'x',
    });
    assert.equal(ok.status, 200);
  });

  test('the node token never reaches a function; a caller’s own Authorization does', async () => {
    const withToken = await fetch(`${cn.node.url}/fn/secret`, {
      headers: { authorization: `Bearer ${cn.node.token}` },
    });
    const seen = await withToken.text();
    assert.equal(withToken.status, 200, seen);
    assert.doesNotMatch(seen, /AUTHORIZATION/i);
    assert.ok(!seen.includes(cn.node.token));
    const viaOpenfaas = await fetch(`${cn.urls.openfaas}/function/secret`, {
      headers: { authorization: `Basic ${Buffer.from(`admin:${cn.node.token}`).toString('base64')}` },
    });
    assert.equal(viaOpenfaas.status, 200);
    assert.doesNotMatch(await viaOpenfaas.text(), /AUTHORIZATION/i);
    // `tern invoke` used to send the token to every function: a public one must not see it either.
    const publicWithToken = await (
      await fetch(`${cn.node.url}/fn/hello`, { headers: { authorization: `Bearer ${cn.node.token}` } })
    ).text();
    assert.ok(!publicWithToken.includes(cn.node.token), publicWithToken);
    const own = await (await fetch(`${cn.node.url}/fn/hello`, { headers: { authorization: 'Bearer mine' } })).text();
    assert.match(own, /HTTP_AUTHORIZATION=Bearer mine|"HTTP_AUTHORIZATION":\s*"Bearer mine"/);
  });
});

describe('async call ids', () => {
  test('128 random bits each', async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${cn.node.url}/async/fn/hello`, { method: 'POST', body: 'x' });
      assert.equal(res.status, 202);
      const { id } = (await res.json()) as { id: string };
      assert.match(id, /^[A-Za-z0-9_-]{22}$/);
      ids.add(id);
    }
    assert.equal(ids.size, 20);
  });

  test('a private function’s result is readable only with the token', async () => {
    const res = await fetch(`${cn.node.url}/async/fn/secret`, {
      method: 'POST',
      body: 'x',
      headers: { authorization: `Bearer ${cn.node.token}` },
    });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    assert.equal((await fetch(`${cn.node.url}/v1/calls/${id}`)).status, 401);
    assert.equal((await cn.node.api('GET', `/v1/calls/${id}`)).status, 200);
    const pub = (await (await fetch(`${cn.node.url}/async/fn/hello`, { method: 'POST' })).json()) as { id: string };
    assert.equal((await fetch(`${cn.node.url}/v1/calls/${pub.id}`)).status, 200, 'a public call needs no token');
  });
});
