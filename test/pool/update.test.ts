/** Graceful update (old instances drain, then the old code is pruned) and removal. */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { deferred, deployedOf, ok } from './fake-runtime.js';
import { call, harness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

test('update: new calls go to the new version; old instances finish their calls, stop, and are pruned', async () => {
  h = await harness();
  const gate = deferred();
  h.runtime.set('svc', {
    call: async (inv, inst) => {
      if (inv.body.toString() === 'wait') await gate.promise;
      return ok(inst.fn.version);
    },
  });
  await h.scheduler.deployed(deployedOf('svc', {}, 'v1'));
  const entered = h.runtime.callsEntered('svc', 1);
  const old = h.scheduler.invoke(call('svc', 'wait'));
  await entered;
  const pruned = h.nextPrune();
  await h.scheduler.deployed(deployedOf('svc', {}, 'v2'));
  const fresh = await h.scheduler.invoke(call('svc'));
  assert.equal(fresh.body.toString(), 'v2');
  const oldInstance = h.runtime.instances.find((i) => i.fn.version === 'v1')!;
  assert.equal(oldInstance.stoppedBy, undefined, 'the old instance is still finishing its call');
  assert.equal(h.pruned.length, 0);
  gate.resolve();
  assert.equal((await old).body.toString(), 'v1');
  assert.equal(await pruned, 'svc');
  assert.equal(oldInstance.stoppedBy, 'stop');
  assert.deepEqual(
    h.telemetry.of('stopped').map((e) => [e.instance, e.reason]),
    [[oldInstance.id, 'update']],
  );
  assert.deepEqual(h.runtime.released, ['svc@v1']);
  assert.deepEqual(
    h.telemetry.of('function').map((e) => e.event),
    ['deployed', 'updated'],
  );
  assert.equal((await h.scheduler.invoke(call('svc'))).body.toString(), 'v2');
});

test('update: idle old instances stop at once and min-instances are prewarmed on the new version', async () => {
  h = await harness();
  h.runtime.set('svc', { call: (_inv, inst) => ok(inst.fn.version) });
  await h.scheduler.deployed(deployedOf('svc', { minInstances: 1 }, 'v1'));
  await h.telemetry.waitFor((e) => e.type === 'started');
  const pruned = h.nextPrune();
  await h.scheduler.deployed(deployedOf('svc', { minInstances: 1 }, 'v2'));
  await pruned;
  await h.telemetry.waitFor((e) => e.type === 'started', 2);
  assert.deepEqual(
    h.runtime.alive('svc').map((i) => i.fn.version),
    ['v2'],
  );
  const r = await h.scheduler.invoke(call('svc'));
  assert.equal(r.body.toString(), 'v2');
  assert.equal(r.report.cold, false);
});

test('deploying the same version again changes nothing', async () => {
  h = await harness();
  await h.scheduler.deployed(deployedOf('svc', {}, 'v1'));
  const first = await h.scheduler.invoke(call('svc'));
  await h.scheduler.deployed(deployedOf('svc', {}, 'v1'));
  const second = await h.scheduler.invoke(call('svc'));
  assert.equal(second.report.instance, first.report.instance);
  assert.deepEqual(
    h.telemetry.of('function').map((e) => e.event),
    ['deployed'],
  );
});

test('remove: new calls 404, queued calls 503, the running call finishes, then every instance stops', async () => {
  h = await harness();
  const gate = deferred();
  h.runtime.set('gone', { call: async (_inv, inst) => (await gate.promise, ok(inst.id)) });
  await h.scheduler.deployed(deployedOf('gone', { maxInstances: 1 }));
  const entered = h.runtime.callsEntered('gone', 1);
  const running = h.scheduler.invoke(call('gone'));
  await entered;
  const queued = h.scheduler.invoke(call('gone'));
  const removing = h.scheduler.removed('gone');
  const q = await queued;
  assert.equal(q.status, 503);
  assert.equal(q.report.error, 'unavailable');
  assert.match(JSON.parse(q.body.toString()).error.message, /removed/);
  assert.equal((await h.scheduler.invoke(call('gone'))).status, 404);
  assert.equal(h.scheduler.status('gone'), undefined);
  gate.resolve();
  assert.equal((await running).status, 200);
  await removing;
  assert.equal(h.runtime.alive('gone').length, 0);
  assert.deepEqual(
    h.telemetry.of('stopped').map((e) => e.reason),
    ['removed'],
  );
  assert.deepEqual(h.runtime.released, ['gone@v1']);
  assert.equal(h.scheduler.capacity().usedMiB, 0);
});
