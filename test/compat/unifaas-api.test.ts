/**
 * The UniFaaS profile and UniFaaS's function.toml format. The invocation path, its port and the
 * function.toml keys are UniFaaS's (OpenFogStack/unikernel-edge-faas: src/proxy.rs route
 * "/invoke/:function_name/:req_path", src/main.rs PROXY_PORT 8123, src/registry/config.rs,
 * src/dispatcher.rs `Duration::from_secs(function.keepalive)`, experiments/warm/gen-registry.sh).
 * The registry is real; the scheduler is an in-test fake of Tern's Scheduler interface.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { unifaasProfile, UNIFAAS_DEFAULT_PORT } from '../../src/compat/unifaas/index.js';
import { TernError } from '../../src/core/errors.js';
import { errorResult } from '../../src/core/result.js';
import { emptyReport } from '../../src/core/report.js';
import { parseFunctionToml } from '../../src/registry/spec.js';
import { echo, FIXTURES, startHarness, TOKEN, type Harness } from '../fixtures/compat/openfaas/harness.js';

const REGISTRY = join(FIXTURES, 'unifaas/registry');

describe('UniFaaS function.toml as Tern reads it', () => {
  test('the VM function of gen-registry.sh: keepalive is seconds, [vm] with a firecracker hypervisor', () => {
    const spec = parseFunctionToml(
      `concurrent-requests = 1
single-use = false
keepalive = 100000

[vm]
image = "../../targets/nanos-go/benchmark.img"
memory = 512
cmdline = "net.ip=%ip net.gw=%gateway net.mask=%netmask callback.url=%callback"
kernel = "../../targets/nanos-go/kernel.img"
hypervisor = { type = "firecracker" }
`,
      'nanos-go',
    );
    assert.equal(spec.name, 'nanos-go', 'named by its folder');
    assert.equal(spec.runtime, 'microvm');
    assert.equal(spec.keepaliveMs, 100_000_000, 'UniFaaS keepalive = 100000 is 100000 s');
    assert.equal(spec.concurrentRequests, 1);
    assert.equal(spec.singleUse, false);
    assert.equal(spec.memory, 512, '[vm] memory');
    assert.equal(spec.vm?.hypervisor, 'firecracker');
    assert.equal(spec.vm?.cmdline, 'net.ip=%ip net.gw=%gateway net.mask=%netmask callback.url=%callback');
  });

  test("the README's keys: keepalive = 1 is one second; copy-rootfs inside the hypervisor table", () => {
    const spec = parseFunctionToml(
      `concurrent-requests = 1
single-use = true
keepalive = 1

[vm]
kernel = "path/to/kernel.img"
image = "path/to/rootfs.img"
memory = 512
cpus = 1
cmdline = "net.ip=%ip net.gw=%gateway net.mask=%netmask callback.url=%callback"
hypervisor = { type = "firecracker", copy-rootfs = true }
`,
      'foo',
    );
    assert.equal(spec.keepaliveMs, 1000);
    assert.equal(spec.singleUse, true);
    assert.equal(spec.vm?.cpus, 1);
    assert.equal(spec.vm?.copyRootfs, true);
  });

  test('[container] functions: memory and container runtime inside the table', () => {
    const spec = parseFunctionToml(
      `concurrent-requests = 1
single-use = false
keepalive = 100000

[container]
image = "faas-benchmark-go"
memory = 512
runtime = "runsc-kvm"
`,
      'gvisor-go',
    );
    assert.equal(spec.runtime, 'container');
    assert.equal(spec.memory, 512);
    assert.deepEqual(spec.container, { image: 'faas-benchmark-go', runtime: 'runsc-kvm' });
  });

  test('the fixture registry parses', async () => {
    const { readFile } = await import('node:fs/promises');
    for (const name of ['hello-wasm', 'hello-py', 'nanos-go']) {
      const spec = parseFunctionToml(await readFile(join(REGISTRY, name, 'function.toml'), 'utf8'), name);
      assert.equal(spec.name, name);
    }
  });
});

describe('/invoke/{function}/{path}', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness(unifaasProfile);
    await h.registry.deployFolder('hello-wasm', join(REGISTRY, 'hello-wasm'));
  });
  after(async () => h.close());
  beforeEach(() => {
    h.scheduler.invoked.length = 0;
    h.scheduler.respond = echo;
  });

  test("UniFaaS's port is the default", () => {
    assert.equal(unifaasProfile.defaultPort, UNIFAAS_DEFAULT_PORT);
    assert.equal(UNIFAAS_DEFAULT_PORT, 8123);
  });

  test('GET /invoke/foo/hello?x=1 reaches the function as GET /hello?x=1; its reply comes back unchanged', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/invoke/hello-wasm/hello?x=1', headers: { 'x-test': 'y' } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-seen'], 'yes');
    assert.equal(res.headers['content-type'], 'application/json');
    assert.ok(res.headers['x-tern-report']);
    const seen = JSON.parse(res.body);
    assert.equal(seen.function, 'hello-wasm');
    assert.equal(seen.method, 'GET');
    assert.equal(seen.path, '/hello');
    assert.equal(seen.query, 'x=1');
    assert.equal(seen.headers['x-test'], 'y');
    assert.equal(seen.trigger, 'compat');
  });

  test('beyond UniFaaS: other methods, deeper paths, no path', async () => {
    const post = await h.app.inject({ method: 'POST', url: '/invoke/hello-wasm/a/b', payload: 'data' });
    assert.deepEqual(
      [JSON.parse(post.body).method, JSON.parse(post.body).path, JSON.parse(post.body).body],
      ['POST', '/a/b', 'data'],
    );
    const bare = await h.app.inject({ method: 'GET', url: '/invoke/hello-wasm' });
    assert.equal(JSON.parse(bare.body).path, '/');
  });

  test('errors read "error: <message>" in plain text, with the status Tern gives them', async () => {
    const unknown = await h.app.inject({ method: 'GET', url: '/invoke/nope/x' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.body, 'error: no function "nope"');
    assert.match(unknown.headers['content-type'] as string, /^text\/plain/);

    h.scheduler.respond = (inv) =>
      errorResult(
        new TernError('timeout', 'the function ran past its 10s timeout'),
        emptyReport('test-node', inv.function),
      );
    const timeout = await h.app.inject({ method: 'GET', url: '/invoke/hello-wasm/x' });
    assert.equal(timeout.statusCode, 504);
    assert.equal(timeout.body, 'error: the function ran past its 10s timeout');

    h.scheduler.respond = (inv) =>
      errorResult(
        new TernError('queue_full', 'the queue is full', { 'retry-after': '1' }),
        emptyReport('test-node', inv.function),
      );
    const full = await h.app.inject({ method: 'GET', url: '/invoke/hello-wasm/x' });
    assert.equal(full.statusCode, 429);
    assert.equal(full.headers['retry-after'], '1');
  });

  test('a private function needs the node token', async () => {
    await h.registry.deployFolder('private-one', join(REGISTRY, 'hello-wasm'));
    (h.registry.get('private-one')!.spec as { private: boolean }).private = true;
    const open = await h.app.inject({ method: 'GET', url: '/invoke/private-one/x' });
    assert.equal(open.statusCode, 401);
    assert.match(open.body, /^error: /);
    const authed = await h.app.inject({
      method: 'GET',
      url: '/invoke/private-one/x',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(authed.statusCode, 200);
  });
});
