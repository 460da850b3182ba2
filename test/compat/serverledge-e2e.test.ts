/**
 * serverledge-cli's requests (grussorusso/serverledge internal/cli/cli.go: create with a tar of
 * the source, invoke, invoke --async then poll, list, delete, status) replayed against a real Tern
 * node with the Serverledge profile, running Serverledge's own example functions (examples/
 * isprime.py, hello.py, sieve.js, unchanged) in Tern's python and node runtimes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { create as createTar } from 'tar';
import { packFolder } from '../../src/registry/archive.js';
import { ensureBuilt, FIXTURES } from '../fixtures/compat/openfaas/harness.js';
import { startCompatNode, type CompatNode } from '../fixtures/compat/openfaas/node.js';
import { REPO } from '../helpers/node.js';

const SL = join(FIXTURES, 'serverledge');
let node: CompatNode;
let sl: string;

async function tarOf(file: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of createTar({ cwd: SL, portable: true }, [file])) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('base64');
}

const postJson = (path: string, body: unknown) =>
  fetch(`${sl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

/** serverledge-cli create -f NAME --runtime R --handler H --memory M --src FILE */
async function create(name: string, runtime: string, handler: string, file: string): Promise<Response> {
  return postJson('/create', {
    Name: name,
    Runtime: runtime,
    MemoryMB: 128,
    CPUDemand: 0,
    Handler: handler,
    TarFunctionCode: await tarOf(file),
    CustomImage: '',
  });
}

/** serverledge-cli invoke -f NAME -p k:v ... [--async] [-o] */
function invoke(
  name: string,
  params: Record<string, unknown>,
  opts: { async?: boolean; returnOutput?: boolean } = {},
): Promise<Response> {
  return postJson(`/invoke/${name}`, {
    Params: params,
    QoSClass: 0,
    QoSMaxRespT: -1,
    CanDoOffloading: true,
    Async: opts.async ?? false,
    ReturnOutput: opts.returnOutput ?? false,
  });
}

before(async () => {
  node = await startCompatNode(['serverledge']);
  sl = node.urls.serverledge!;
  for (const [name, runtime, handler, file] of [
    ['isprime', 'python310', 'isprime.handler', 'isprime.py'],
    ['hello', 'python310', 'hello.handler', 'hello.py'],
    ['sieve', 'nodejs17ng', 'sieve.js', 'sieve.js'],
  ]) {
    const res = await create(name!, runtime!, handler!, file!);
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { Created: name });
  }
});
after(async () => node?.stop());

describe('serverledge-cli against Tern', () => {
  test('invoke isprime -p n:17: Result is the JSON the handler returned; a second call is warm', async () => {
    const first = await invoke('isprime', { n: '17' });
    assert.equal(first.status, 200);
    const body = (await first.json()) as Record<string, unknown>;
    assert.equal(body.Success, true);
    assert.equal(body.Result, '{"IsPrime": true}');
    for (const key of ['ResponseTime', 'InitTime', 'OffloadLatency', 'Duration'])
      assert.equal(typeof body[key], 'number', key);
    assert.equal(body.SchedAction, '');
    const second = (await (await invoke('isprime', { n: '18' })).json()) as Record<string, unknown>;
    assert.equal(second.Result, '{"IsPrime": false}');
    assert.equal(second.IsWarmStart, true);
  });

  test('invoke -o: Output holds what the function printed', async () => {
    const body = (await (await invoke('isprime', { n: '7' }, { returnOutput: true })).json()) as Record<
      string,
      unknown
    >;
    assert.match(body.Output as string, /^Checking n = 7\n/);
  });

  test('hello.py returns a string: Result is that string JSON-encoded, as python310 encodes it', async () => {
    const body = (await (await invoke('hello', { name: 'tern' })).json()) as Record<string, unknown>;
    assert.equal(body.Result, JSON.stringify("Hello, Serverledge!\nParams: {'name': 'tern'}"));
  });

  test('sieve.js on nodejs17ng: module.exports = (params, ctx) => result', async () => {
    const body = (await (await invoke('sieve', { n: '20' })).json()) as Record<string, unknown>;
    assert.deepEqual(JSON.parse(body.Result as string), { N: 20, Primes: '2,3,5,7,11,13,17,19' });
  });

  test('invoke --async then poll --request ID: 404 until done, then the report', async () => {
    const res = await invoke('isprime', { n: '19' }, { async: true });
    assert.equal(res.status, 200);
    const { ReqId } = (await res.json()) as { ReqId: string };
    let poll = await fetch(`${sl}/poll/${ReqId}`);
    // Bounded polling, as a Serverledge client polls.
    for (let i = 0; i < 300 && poll.status === 404; i++) {
      await poll.arrayBuffer();
      await new Promise((resolve) => setTimeout(resolve, 100));
      poll = await fetch(`${sl}/poll/${ReqId}`);
    }
    assert.equal(poll.status, 200);
    const body = (await poll.json()) as Record<string, unknown>;
    assert.equal(body.Success, true);
    assert.equal(body.Result, '{"IsPrime": true}');
  });

  test('a native Tern function answers Serverledge invocations too: Params are its body, its body the Result', async () => {
    ensureBuilt(join(REPO, 'examples/echo/build.sh'), join(REPO, 'examples/echo/echo.wasm'));
    const deploy = await node.node.api('PUT', '/v1/functions/echo', {
      body: await packFolder(join(REPO, 'examples/echo')),
      headers: { 'content-type': 'application/gzip' },
    });
    assert.equal(deploy.status, 201, await deploy.clone().text());
    const body = (await (await invoke('echo', { n: 3 })).json()) as Record<string, unknown>;
    assert.equal(body.Success, true);
    const seen = JSON.parse(body.Result as string) as { method: string; body: string };
    assert.equal(seen.method, 'POST');
    assert.deepEqual(JSON.parse(seen.body), { n: 3 });
  });

  test('list, status, delete', async () => {
    const list = (await (await fetch(`${sl}/function`)).json()) as string[];
    assert.deepEqual([...list].sort(), ['echo', 'hello', 'isprime', 'sieve']);
    const status = (await (await fetch(`${sl}/status`)).json()) as Record<string, unknown>;
    assert.equal(status.Url, sl);
    assert.equal(typeof status.AvailableMemMB, 'number');
    const del = await postJson('/delete', { Name: 'hello' });
    assert.deepEqual(await del.json(), { Deleted: 'hello' });
    const gone = await invoke('hello', {});
    assert.equal(gone.status, 404);
    assert.equal(await gone.text(), 'Function unknown');
  });
});
