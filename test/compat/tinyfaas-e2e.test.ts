/**
 * tinyFaaS's own end-to-end suite (OpenFogStack/tinyFaaS test/test_all.py) replayed against a real
 * Tern node with the tinyFaaS profile: its test functions (test/fns, unchanged) uploaded as
 * scripts/upload.sh uploads them, then called over HTTP (this profile), CoAP and gRPC (Tern's
 * triggers), with test_all.py's payloads and assertions.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { credentials, Metadata, type Client, type ServiceError } from '@grpc/grpc-js';
import { tinyFaasClient, type TinyFaasData, type TinyFaasResponse } from '../../src/triggers/grpc/proto.js';
import { FIXTURES } from '../fixtures/compat/openfaas/harness.js';
import { startCompatNode, type CompatNode } from '../fixtures/compat/openfaas/node.js';
import { coapClient, lastResponse } from '../triggers/coap-client.js';

const FNS = join(FIXTURES, 'tinyfaas/fns');
const PAYLOAD = 'Hello World!';
let node: CompatNode;
let tf: string;
let coap: string;
let grpc: Client;

/** test_all.py startFunction(): scripts/upload.sh FOLDER NAME ENV THREADS. */
async function upload(folder: string, name: string, env: string, threads = 1): Promise<Response> {
  const zip = execFileSync('sh', ['-c', 'zip -q -r - ./*'], { cwd: join(FNS, folder) }).toString('base64');
  return fetch(`${tf}/upload`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `{"name": "${name}", "env": "${env}", "threads": ${threads}, "zip": "${zip}"}`,
  });
}

type RequestMethod = (
  data: TinyFaasData,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, response?: TinyFaasResponse) => void,
) => unknown;

/** TinyFaaSStub.Request(Data(functionIdentifier, data), metadata) as test_all.py calls it. */
function grpcRequest(data: TinyFaasData, metadata = new Metadata()): Promise<TinyFaasResponse> {
  const method = (grpc as unknown as { Request: RequestMethod }).Request.bind(grpc);
  return new Promise((resolve, reject) => {
    method(data, metadata, { deadline: Date.now() + 60_000 }, (err, res) =>
      err || !res ? reject(err ?? new Error('no response')) : resolve(res),
    );
  });
}

before(async () => {
  node = await startCompatNode(['tinyfaas']);
  tf = node.urls.tinyfaas!;
  const info = (await (await node.node.api('GET', '/v1/info')).json()) as { triggers: Record<string, string> };
  coap = info.triggers.coap!.replace('udp://', 'coap://');
  const Ctor = tinyFaasClient();
  grpc = new Ctor(info.triggers.grpc!.replace('grpc://', ''), credentials.createInsecure());
  const uploads: [string, string, string][] = [
    ['sieve-of-eratosthenes', 'sieve', 'nodejs'],
    ['echo', 'echo', 'python3'],
    ['echo-js', 'echojs', 'nodejs'],
    ['echo-binary', 'echobinary', 'binary'],
    ['show-headers-js', 'headersjs', 'nodejs'],
    ['show-headers', 'headers', 'python3'],
  ];
  for (const [folder, name, env] of uploads) {
    const res = await upload(folder, name, env);
    assert.equal(res.status, 200, `${name}: ${await res.text()}`);
  }
});

after(async () => {
  grpc?.close();
  await node?.stop();
});

describe('TestSieve', () => {
  test('test_invoke_http: 200', async () => {
    const res = await fetch(`${tf}/sieve`, { signal: AbortSignal.timeout(30_000) });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Found 1229 primes under 10000\n');
  });

  test('test_invoke_http_async: 202', async () => {
    const res = await fetch(`${tf}/sieve`, { headers: { 'X-tinyFaaS-Async': 'true' } });
    assert.equal(res.status, 202);
    assert.equal(await res.text(), '');
  });

  test('test_invoke_coap: 2.05 Content', async () => {
    const run = await coapClient(['-m', 'get', `${coap}/sieve`]);
    assert.equal(lastResponse(run).code, '2.05');
    assert.equal(run.payload.toString(), 'Found 1229 primes under 10000\n');
  });

  test('test_invoke_grpc: a response', async () => {
    const res = await grpcRequest({ functionIdentifier: 'sieve', data: '' });
    assert.notEqual(res.response, '');
  });
});

for (const [suite, fn] of [
  ['TestEcho', 'echo'],
  ['TestEchoJS', 'echojs'],
  ['TestBinary', 'echobinary'],
] as const) {
  describe(suite, () => {
    test('test_invoke_http: the payload comes back', async () => {
      const res = await fetch(`${tf}/${fn}`, { method: 'POST', body: PAYLOAD });
      assert.equal(res.status, 200);
      assert.equal(await res.text(), PAYLOAD);
    });

    test('test_invoke_coap: the payload comes back, 2.05 Content', async () => {
      const run = await coapClient(['-m', 'get', `${coap}/${fn}`], Buffer.from(PAYLOAD));
      assert.equal(lastResponse(run).code, '2.05');
      assert.equal(run.payload.toString(), PAYLOAD);
    });

    test('test_invoke_grpc: the payload comes back', async () => {
      assert.equal((await grpcRequest({ functionIdentifier: fn, data: PAYLOAD })).response, PAYLOAD);
    });
  });
}

describe('TestShowHeadersJS', () => {
  test('test_invoke_http: headers as Express shows them, lower case', async () => {
    const res = await fetch(`${tf}/headersjs`, {
      headers: { lab: 'scalable_software_systems_group', 'user-agent': 'Python-urllib/3.11' },
    });
    assert.equal(res.status, 200);
    const headers = (await res.json()) as Record<string, string>;
    assert.equal(headers.lab, 'scalable_software_systems_group');
    assert.match(headers['user-agent']!, /Python-urllib/);
  });

  test('test_invoke_grpc: metadata reaches the function as headers', async () => {
    const metadata = new Metadata();
    metadata.set('lab', 'scalable_software_systems_group');
    const headers = JSON.parse(
      (await grpcRequest({ functionIdentifier: 'headersjs', data: '' }, metadata)).response,
    ) as Record<string, string>;
    assert.equal(headers.lab, 'scalable_software_systems_group');
    assert.match(headers['user-agent']!, /grpc/, 'the client header, as test_all.py asserts');
  });
});

describe('TestShowHeaders', () => {
  test("test_invoke_http: headers as tinyFaaS's python handler shows them, canonical case", async () => {
    const res = await fetch(`${tf}/headers`, {
      headers: { Lab: 'scalable_software_systems_group', 'User-Agent': 'Python-urllib/3.11' },
    });
    assert.equal(res.status, 200);
    const headers = (await res.json()) as Record<string, string>;
    assert.equal(headers.Lab, 'scalable_software_systems_group');
    assert.match(headers['User-Agent']!, /Python-urllib/);
  });

  test('test_invoke_grpc: metadata reaches the function as headers', async () => {
    const metadata = new Metadata();
    metadata.set('lab', 'scalable_software_systems_group');
    const headers = JSON.parse(
      (await grpcRequest({ functionIdentifier: 'headers', data: '' }, metadata)).response,
    ) as Record<string, string>;
    assert.equal(headers.Lab, 'scalable_software_systems_group');
    assert.match(headers['User-Agent']!, /grpc/, 'the client header, as test_all.py asserts');
  });
});

describe('management scripts', () => {
  test('list.sh, logs.sh, delete.sh', async () => {
    assert.deepEqual((await (await fetch(`${tf}/list`)).text()).split('\n').filter(Boolean).sort(), [
      'echo',
      'echobinary',
      'echojs',
      'headers',
      'headersjs',
      'sieve',
    ]);
    // echo-js logs what it echoes (console.log).
    await fetch(`${tf}/echojs`, { method: 'POST', body: 'logged line' });
    assert.match(await (await fetch(`${tf}/logs?name=echojs`)).text(), /^logged line$/m);
    const del = await fetch(`${tf}/delete`, { method: 'POST', body: '{"name": "echobinary"}' });
    assert.equal(del.status, 200);
    assert.equal((await fetch(`${tf}/echobinary`, { method: 'POST', body: 'x' })).status, 404);
  });

  test('wipe-functions.sh removes the uploaded functions', async () => {
    const res = await fetch(`${tf}/wipe`, { method: 'POST', body: '' });
    assert.equal(res.status, 200);
    assert.equal(await (await fetch(`${tf}/list`)).text(), '');
  });
});
