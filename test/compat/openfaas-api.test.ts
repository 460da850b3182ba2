/**
 * The OpenFaaS profile's management API (health, auth, deploy, scale, delete) against the requests
 * faas-cli and the gateway send, replies checked field by field; logs are in openfaas-logs.test.ts,
 * invocations in openfaas-invoke.test.ts. Request shapes come from openfaas/faas-cli proxy/{deploy,delete,scale,list,describe,logs,
 * namespaces,version,invoke}.go; replies from the gateway's spec (openfaas/faas
 * api-docs/spec.openapi.yml), faas-provider (openfaas/faas-provider serve.go, types/*.go,
 * auth/basic_auth.go, logs/handler.go) and faasd (openfaas/faasd pkg/provider/handlers/*.go).
 * The registry is real; the scheduler and log store are in-test fakes of Tern's interfaces.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { createOpenfaasProfile } from '../../src/compat/openfaas/index.js';
import {
  ADMIN,
  basic,
  deployment,
  clearHarness,
  IMAGES,
  startHarness,
  TOKEN,
  type Harness,
} from '../fixtures/compat/openfaas/harness.js';

let h: Harness;

before(async () => {
  h = await startHarness(createOpenfaasProfile({ imagesDir: IMAGES }));
});
after(async () => h.close());

async function deploy(body: string, method: 'POST' | 'PUT' = 'POST') {
  return h.app.inject({
    method,
    url: '/system/functions',
    headers: { authorization: ADMIN, 'content-type': 'application/json' },
    payload: body,
  });
}

async function remove(name: string) {
  return h.app.inject({
    method: 'DELETE',
    url: '/system/functions',
    headers: { authorization: ADMIN },
    payload: JSON.stringify({ functionName: name }),
  });
}

const clear = () => clearHarness(h);

describe('health, info, namespaces', () => {
  test('GET /healthz is open and answers 200', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, '');
  });

  test('GET /system/info is GatewayInfo {provider: ProviderInfo, version: VersionInfo, arch}', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/system/info', headers: { authorization: ADMIN } });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^application\/json/);
    const info = res.json();
    assert.deepEqual(Object.keys(info), ['provider', 'version', 'arch']);
    assert.deepEqual(info.provider, {
      provider: 'tern',
      version: { sha: 'unknown', release: '9.9.9' },
      orchestration: 'tern',
    });
    assert.deepEqual(info.version, { sha: 'unknown', release: '9.9.9' });
    assert.equal(typeof info.arch, 'string');
    assert.notEqual(info.arch, '');
  });

  test('GET /system/namespaces lists the one namespace', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/system/namespaces', headers: { authorization: ADMIN } });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), ['openfaas-fn']);
  });

  test('secrets: an empty list; creating one is not implemented', async () => {
    const list = await h.app.inject({ method: 'GET', url: '/system/secrets', headers: { authorization: ADMIN } });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json(), []);
    for (const method of ['POST', 'PUT', 'DELETE'] as const) {
      const res = await h.app.inject({
        method,
        url: '/system/secrets',
        headers: { authorization: ADMIN },
        payload: JSON.stringify({ name: 'k', value: 'v' }),
      });
      assert.equal(res.statusCode, 501, method);
      assert.match(res.body, /secrets are not supported/);
    }
  });

  test('/system/namespace/{ns}: Tern has one namespace, so 501', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/system/namespace/extra',
      headers: { authorization: ADMIN },
      payload: '{}',
    });
    assert.equal(res.statusCode, 501);
  });
});

describe('basic auth as the gateway does it', () => {
  const systemCalls: [string, string][] = [
    ['GET', '/system/functions'],
    ['POST', '/system/functions'],
    ['PUT', '/system/functions'],
    ['DELETE', '/system/functions'],
    ['GET', '/system/function/echo'],
    ['POST', '/system/scale-function/echo'],
    ['GET', '/system/info'],
    ['GET', '/system/namespaces'],
    ['GET', '/system/logs?name=echo'],
    ['GET', '/system/secrets'],
  ];

  for (const [method, url] of systemCalls) {
    test(`${method} ${url} without credentials: 401, WWW-Authenticate Basic, "invalid credentials"`, async () => {
      const res = await h.app.inject({ method: method as 'GET', url, payload: '{}' });
      assert.equal(res.statusCode, 401);
      assert.equal(res.headers['www-authenticate'], 'Basic realm="Restricted"');
      assert.equal(res.body, 'invalid credentials');
    });
  }

  test('wrong user, wrong password and a broken header are refused', async () => {
    for (const authorization of [
      basic('root', TOKEN),
      basic('admin', 'wrong'),
      basic('admin', `${TOKEN}x`),
      'Basic !!!',
      `Bearer ${TOKEN}x`,
      TOKEN,
    ]) {
      const res = await h.app.inject({ method: 'GET', url: '/system/functions', headers: { authorization } });
      assert.equal(res.statusCode, 401, authorization);
    }
  });

  test('admin:<token> and Bearer <token> are accepted', async () => {
    for (const authorization of [ADMIN, `Bearer ${TOKEN}`]) {
      const res = await h.app.inject({ method: 'GET', url: '/system/functions', headers: { authorization } });
      assert.equal(res.statusCode, 200, authorization);
    }
  });
});

describe('deploy, update, describe, list, scale, delete', () => {
  beforeEach(clear);

  test('faas-cli deploy: PUT answers 404 for a new function, then POST deploys it (202)', async () => {
    const put = await deploy(deployment(), 'PUT');
    assert.equal(put.statusCode, 404);
    assert.equal(put.body, 'function: echo.openfaas-fn not found\n');
    assert.match(put.headers['content-type'] as string, /^text\/plain/);

    const post = await deploy(
      deployment({
        envVars: { GREETING: 'hi' },
        envProcess: 'echo',
        labels: { ctrType: 'wasm', team: 'a' },
        annotations: { topic: 't1' },
        limits: { memory: '48Mi' },
      }),
    );
    assert.equal(post.statusCode, 202, post.body);
    assert.equal(post.body, '');

    const fn = h.registry.get('echo');
    assert.ok(fn);
    assert.equal(fn.spec.runtime, 'wasm');
    assert.equal(fn.spec.handler, 'build/echo.wasm');
    assert.equal(fn.spec.memory, 48);
    assert.deepEqual(fn.spec.env, { GREETING: 'hi', fprocess: 'echo' });
  });

  test('GET /system/function/{name} and GET /system/functions report FunctionStatus', async () => {
    assert.equal(
      (
        await deploy(
          deployment({
            envVars: { GREETING: 'hi' },
            labels: { ctrType: 'wasm' },
            annotations: { topic: 't1' },
            constraints: ['node.platform.os == linux'],
          }),
        )
      ).statusCode,
      202,
    );
    h.scheduler.statuses.set('echo', {
      name: 'echo',
      instances: { starting: 1, idle: 1, busy: 1, total: 3 },
      queued: 0,
      invocations: 7,
      memoryMiB: 96,
    });
    const fn = h.registry.get('echo')!;

    const one = await h.app.inject({
      method: 'GET',
      url: '/system/function/echo?namespace=openfaas-fn&usage=1',
      headers: { authorization: ADMIN },
    });
    assert.equal(one.statusCode, 200);
    const status = one.json();
    assert.deepEqual(status, {
      name: 'echo',
      image: 'echo:latest',
      namespace: 'openfaas-fn',
      envVars: { GREETING: 'hi' },
      constraints: ['node.platform.os == linux'],
      labels: { ctrType: 'wasm' },
      annotations: { topic: 't1' },
      limits: { memory: '32Mi' },
      invocationCount: 7,
      replicas: 3,
      availableReplicas: 2,
      createdAt: status.createdAt,
    });
    assert.ok(Date.parse(status.createdAt) <= Date.parse(fn.deployedAt), 'createdAt is the deploy time');

    const list = await h.app.inject({ method: 'GET', url: '/system/functions', headers: { authorization: ADMIN } });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json(), [status]);
  });

  test('a function deployed another way shows <name>:<version> as image and empty labels', async () => {
    await h.registry.deployFolder('other', join(IMAGES, 'echo'));
    const res = await h.app.inject({ method: 'GET', url: '/system/function/other', headers: { authorization: ADMIN } });
    const status = res.json();
    assert.equal(status.image, `other:${h.registry.get('other')!.version}`);
    assert.deepEqual(status.labels, {});
    assert.deepEqual(status.annotations, {});
    assert.equal(status.replicas, 0);
    assert.equal(status.availableReplicas, 0);
    assert.equal(status.invocationCount, 0);
  });

  test('GET /system/function/{name} of an unknown function: bare 404', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/system/function/nope', headers: { authorization: ADMIN } });
    assert.equal(res.statusCode, 404);
    assert.equal(res.body, '');
  });

  test('PUT updates an existing function (200) and POST refuses to deploy it twice (400)', async () => {
    assert.equal((await deploy(deployment())).statusCode, 202);
    const first = h.registry.get('echo')!;
    const again = await deploy(deployment());
    assert.equal(again.statusCode, 400);
    assert.match(again.body, /already exists/);

    const put = await deploy(deployment({ envVars: { GREETING: 'updated' } }), 'PUT');
    assert.equal(put.statusCode, 200, put.body);
    assert.equal(put.body, '');
    const updated = h.registry.get('echo')!;
    assert.notEqual(updated.version, first.version);
    assert.equal(updated.spec.env.GREETING, 'updated');
  });

  test('envVars.fprocess wins over envProcess, as faasd prepareEnv', async () => {
    assert.equal(
      (await deploy(deployment({ envProcess: 'from-envProcess', envVars: { fprocess: 'from-envVars' } }))).statusCode,
      202,
    );
    assert.equal(h.registry.get('echo')!.spec.env.fprocess, 'from-envVars');
    const status = (
      await h.app.inject({ method: 'GET', url: '/system/function/echo', headers: { authorization: ADMIN } })
    ).json();
    assert.equal(status.envProcess, 'from-envProcess');
    assert.deepEqual(status.envVars, { GREETING: 'from function.toml' });
  });

  test('scale-function maps replicas to min-instances (202), keeps it across an update, 0 scales to zero', async () => {
    assert.equal((await deploy(deployment())).statusCode, 202);
    // faas-cli proxy/scale.go: POST /system/scale-function/{name} with types.ScaleServiceRequest.
    const scale = (replicas: number) =>
      h.app.inject({
        method: 'POST',
        url: '/system/scale-function/echo',
        headers: { authorization: ADMIN },
        payload: JSON.stringify({ serviceName: 'echo', replicas, namespace: '' }),
      });
    const res = await scale(12);
    assert.equal(res.statusCode, 202, res.body);
    assert.equal(h.registry.get('echo')!.spec.minInstances, 12);
    assert.equal(h.registry.get('echo')!.spec.maxInstances, 12, 'max-instances rises to the minimum');

    assert.equal((await deploy(deployment({ envVars: { GREETING: 'x' } }), 'PUT')).statusCode, 200);
    assert.equal(h.registry.get('echo')!.spec.minInstances, 12, 'an update keeps the scaled minimum');
    assert.equal(h.registry.get('echo')!.spec.env.GREETING, 'x');

    assert.equal((await scale(0)).statusCode, 202);
    assert.equal(h.registry.get('echo')!.spec.minInstances, 0);
    const status = (
      await h.app.inject({ method: 'GET', url: '/system/function/echo', headers: { authorization: ADMIN } })
    ).json();
    assert.equal(status.image, 'echo:latest', 'the image survives scaling');
  });

  test('scale-function of an unknown function: 404; a bad body: 400', async () => {
    const missing = await h.app.inject({
      method: 'POST',
      url: '/system/scale-function/nope',
      headers: { authorization: ADMIN },
      payload: JSON.stringify({ serviceName: 'nope', replicas: 1 }),
    });
    assert.equal(missing.statusCode, 404);
    assert.equal(missing.body, 'function: nope.openfaas-fn not found\n');
    const bad = await h.app.inject({
      method: 'POST',
      url: '/system/scale-function/echo',
      headers: { authorization: ADMIN },
      payload: '{"replicas": -1}',
    });
    assert.equal(bad.statusCode, 400);
  });

  test('the com.openfaas.scale.min / .max labels set min- and max-instances', async () => {
    assert.equal(
      (await deploy(deployment({ labels: { 'com.openfaas.scale.min': '2', 'com.openfaas.scale.max': '4' } })))
        .statusCode,
      202,
    );
    const fn = h.registry.get('echo')!;
    assert.equal(fn.spec.minInstances, 2);
    assert.equal(fn.spec.maxInstances, 4);
    const bad = await deploy(deployment({ service: 'echo2', labels: { 'com.openfaas.scale.min': 'lots' } }));
    assert.equal(bad.statusCode, 400);
  });

  test('faas-cli remove: DELETE with {"functionName"}: 200, then 404', async () => {
    assert.equal((await deploy(deployment())).statusCode, 202);
    const res = await remove('echo');
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, '');
    assert.equal(h.registry.get('echo'), undefined);
    const again = await remove('echo');
    assert.equal(again.statusCode, 404);
    assert.equal(again.body, 'function echo.openfaas-fn not found\n');
  });

  test('namespaces other than openfaas-fn: 400 "namespace not valid"', async () => {
    const checks = [
      await deploy(deployment({ namespace: 'other' })),
      await h.app.inject({
        method: 'GET',
        url: '/system/functions?namespace=other',
        headers: { authorization: ADMIN },
      }),
      await h.app.inject({
        method: 'DELETE',
        url: '/system/functions',
        headers: { authorization: ADMIN },
        payload: JSON.stringify({ functionName: 'echo', namespace: 'other' }),
      }),
    ];
    for (const res of checks) {
      assert.equal(res.statusCode, 400);
      assert.equal(res.body, 'namespace not valid\n');
    }
    const ok = await deploy(deployment({ namespace: 'openfaas-fn' }));
    assert.equal(ok.statusCode, 202);
  });

  test('bad deployments are 400 with the reason', async () => {
    const cases: [string, RegExp][] = [
      ['not json', /invalid JSON/],
      [JSON.stringify({ image: 'echo' }), /service/],
      [deployment({ image: 'no-such-image' }), /unable to pull image no-such-image/],
      [deployment({ image: '../../etc' }), /unable to pull image/],
      [deployment({ service: 'Bad_Name' }), /invalid function name/],
      [deployment({ secrets: ['api-key'] }), /unable to find secret: api-key/],
      [deployment({ labels: { ctrType: 'docker' } }), /ctrType/],
      [
        deployment({ labels: { ctrType: 'native' } }),
        /ctrType=native, but image echo:latest is a WebAssembly function/,
      ],
      [deployment({ limits: { memory: 'plenty' } }), /limits\.memory/],
    ];
    for (const [body, message] of cases) {
      const res = await deploy(body);
      assert.equal(res.statusCode, 400, body);
      assert.match(res.body, message, body);
    }
    assert.equal(h.registry.list().length, 0, 'nothing was deployed');
  });

  test('images: a .wasm file path, a folder without function.toml (python inferred), a registry-style name', async () => {
    const wasm = await deploy(
      deployment({ service: 'by-path', image: join(IMAGES, 'echo/build/echo.wasm'), labels: { ctrType: 'wasm' } }),
    );
    assert.equal(wasm.statusCode, 202, wasm.body);
    assert.equal(h.registry.get('by-path')!.spec.runtime, 'wasm');
    assert.equal(h.registry.get('by-path')!.spec.handler, 'echo.wasm');

    const py = await deploy(deployment({ service: 'py', image: 'hello-py', labels: { ctrType: 'native' } }));
    assert.equal(py.statusCode, 202, py.body);
    assert.equal(h.registry.get('py')!.spec.runtime, 'python');
    assert.equal(h.registry.get('py')!.spec.handler, 'main:handle');

    const qualified = await deploy(deployment({ service: 'qualified', image: 'ghcr.io/someone/echo:0.1.0' }));
    assert.equal(qualified.statusCode, 202, qualified.body);
    assert.equal(h.registry.get('qualified')!.spec.runtime, 'wasm');

    const nativeWasm = await deploy(
      deployment({ service: 'nw', image: join(IMAGES, 'echo/build/echo.wasm'), labels: { ctrType: 'native' } }),
    );
    assert.equal(nativeWasm.statusCode, 400);
    const wasmPy = await deploy(deployment({ service: 'wp', image: 'hello-py', labels: { ctrType: 'wasm' } }));
    assert.equal(wasmPy.statusCode, 400);
  });
});

describe('unmatched requests, as gorilla/mux answers them', () => {
  test('unknown path: 404 "404 page not found"; known path, other method: 405', async () => {
    const unknown = await h.app.inject({ method: 'GET', url: '/nothing/here' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.body, '404 page not found\n');
    const method = await h.app.inject({ method: 'DELETE', url: '/system/info', headers: { authorization: ADMIN } });
    assert.equal(method.statusCode, 405);
  });
});
