/**
 * OpenFaaS's FunctionStatus.createdAt is when the function was first deployed (faasd reads the
 * container's creation time): an update (PUT) or a scale keeps it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createOpenfaasProfile } from '../../src/compat/openfaas/index.js';
import { ADMIN, deployment, IMAGES, startHarness, type Harness } from '../fixtures/compat/openfaas/harness.js';

let h: Harness;

before(async () => {
  h = await startHarness(createOpenfaasProfile({ imagesDir: IMAGES }));
});
after(async () => h.close());

const deploy = (body: string, method: 'POST' | 'PUT' = 'POST') =>
  h.app.inject({
    method,
    url: '/system/functions',
    headers: { authorization: ADMIN, 'content-type': 'application/json' },
    payload: body,
  });

test("createdAt is the first deploy's time: an update or a scale does not change it", async () => {
  assert.equal((await deploy(deployment())).statusCode, 202);
  const describeEcho = async () =>
    (await h.app.inject({ method: 'GET', url: '/system/function/echo', headers: { authorization: ADMIN } })).json();
  const created = (await describeEcho()).createdAt as string;
  assert.ok(Number.isFinite(Date.parse(created)));

  assert.equal((await deploy(deployment({ envVars: { GREETING: 'changed' } }), 'PUT')).statusCode, 200);
  assert.notEqual(h.registry.get('echo')!.deployedAt, created, 'a new version was deployed');
  assert.equal((await describeEcho()).createdAt, created, 'kept across an update');

  const scaled = await h.app.inject({
    method: 'POST',
    url: '/system/scale-function/echo',
    headers: { authorization: ADMIN },
    payload: JSON.stringify({ serviceName: 'echo', replicas: 2 }),
  });
  assert.equal(scaled.statusCode, 202);
  assert.equal((await describeEcho()).createdAt, created, 'kept across scaling');
});
