/**
 * Durations a compat client hands in are bounded as the native ones (issue 25, item 3), on one real
 * node with the OpenFaaS, Serverledge and UniFaaS profiles: an OpenFaaS image's function.toml
 * (400 from /system/functions), Serverledge's QoSMaxRespT in seconds (400 from /invoke), and a
 * UniFaaS registry folder's keepalive and timeout (the function is not loaded; the log says why).
 * tinyFaaS and Faasm requests carry no duration Tern reads.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startCompatNode, type CompatNode } from '../fixtures/compat/openfaas/node.js';
import { packFiles } from '../helpers/archive.js';
import { REPO } from '../helpers/node.js';

const HELLO = join(REPO, 'examples/hello/hello.wasm');

describe('compat APIs: durations from clients are bounded', () => {
  let work: string;
  let c: CompatNode;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tern-compat-durations-'));
    const registry = join(work, 'registry');
    const unifaas = (name: string, keys: string) =>
      mkdir(join(registry, name), { recursive: true }).then(() =>
        Promise.all([
          writeFile(join(registry, name, 'function.toml'), `${keys}\nruntime = "wasm"\nhandler = "hello.wasm"\n`),
          cp(HELLO, join(registry, name, 'hello.wasm')),
        ]),
      );
    await unifaas('uni-ok', 'keepalive = 100000\nconcurrent-requests = 1');
    await unifaas('uni-keepalive', 'keepalive = 1e308\nconcurrent-requests = 1');
    await unifaas('uni-timeout', 'keepalive = 10\ntimeout = 0');
    c = await startCompatNode(['openfaas', 'serverledge', 'unifaas'], { args: ['--registry', registry] });
    const res = await c.node.api('PUT', '/v1/functions/hello', {
      body: await packFiles({
        'function.toml': 'runtime = "wasm"\nhandler = "hello.wasm"\n',
        'hello.wasm': await readFile(HELLO),
      }),
    });
    assert.equal(res.status, 201, await res.text());
  });
  after(async () => {
    await c.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('OpenFaaS: an image whose function.toml has an out-of-range timeout is refused with 400', async () => {
    const cases: [string, string][] = [
      ['0', '0'],
      ['1e308', '1e\\+308'],
      ['"999999h"', '"999999h"'],
      ['-1', '-1'],
    ];
    for (const [value, shown] of cases) {
      const image = join(work, `image-${Math.random().toString(36).slice(2)}`);
      await mkdir(image);
      await writeFile(join(image, 'function.toml'), `runtime = "wasm"\nhandler = "hello.wasm"\ntimeout = ${value}\n`);
      await cp(HELLO, join(image, 'hello.wasm'));
      const res = await fetch(`${c.urls.openfaas}/system/functions`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`admin:${c.node.token}`).toString('base64')}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ service: 'of-bounded', image }),
      });
      assert.equal(res.status, 400, value);
      assert.match(await res.text(), new RegExp(`timeout: ${shown} is out of range \\(allowed 1ms to 24h\\)`));
    }
    assert.equal((await c.node.api('GET', '/v1/functions/of-bounded')).status, 404);
  });

  const invoke = (maxRespT: number) =>
    fetch(`${c.urls.serverledge}/invoke/hello`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ Params: {}, QoSClass: 0, QoSMaxRespT: maxRespT, CanDoOffloading: false }),
    });

  test('Serverledge: QoSMaxRespT (seconds) out of range is refused with 400', async () => {
    for (const seconds of [1e308, 999_999 * 3600, 86_400.001, -5, 0.0001]) {
      const res = await invoke(seconds);
      assert.equal(res.status, 400, String(seconds));
      assert.match(
        await res.text(),
        /^QoSMaxRespT: .* is out of range \(allowed 1ms to 24h\), in seconds; 0 or -1 for none$/,
      );
    }
  });

  test("Serverledge: Go's zero value, the CLI's -1 and the bounds are taken", async () => {
    for (const seconds of [0, -1, 0.001, 3, 86_400]) {
      const res = await invoke(seconds);
      assert.equal(res.status, 200, `${seconds}: ${await res.clone().text()}`);
    }
  });

  test('UniFaaS: registry functions with out-of-range durations are not loaded, and the log says why', async () => {
    const out = c.node.output();
    assert.match(out, /cannot load function uni-keepalive .*keepalive: 1e\+308 is out of range \(allowed 0 to 7d\)/);
    assert.match(out, /cannot load function uni-timeout .*timeout: 0 is out of range \(allowed 1ms to 24h\)/);
    assert.equal((await fetch(`${c.urls.unifaas}/invoke/uni-keepalive`)).status, 404);
    assert.equal((await fetch(`${c.urls.unifaas}/invoke/uni-ok`)).status, 200);
  });
});
