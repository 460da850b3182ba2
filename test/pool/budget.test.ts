/** The node memory budget: reservations, LRU eviction across functions, no_capacity. */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { deferred, deployedOf, ok } from './fake-runtime.js';
import { call, harness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

test('instances reserve their memory while they exist', async () => {
  h = await harness({ memoryBudgetMiB: 1000 });
  await h.scheduler.deployed(deployedOf('a', { memory: 300, keepaliveMs: 50 }));
  await h.scheduler.invoke(call('a'));
  assert.deepEqual(h.scheduler.capacity(), { memoryMiB: 1000, usedMiB: 300 });
  assert.equal(h.scheduler.status('a')!.memoryMiB, 300);
  await h.telemetry.waitFor((e) => e.type === 'stopped' && e.reason === 'keepalive');
  assert.equal(h.scheduler.capacity().usedMiB, 0);
});

test('a full budget evicts the least recently used idle instance of another function', async () => {
  h = await harness({ memoryBudgetMiB: 256 });
  for (const name of ['a', 'b', 'c']) await h.scheduler.deployed(deployedOf(name, { memory: 128 }));
  const a = await h.scheduler.invoke(call('a'));
  const b = await h.scheduler.invoke(call('b'));
  const c = await h.scheduler.invoke(call('c'));
  assert.equal(c.status, 200);
  assert.equal(c.report.cold, true);
  const evicted = h.telemetry.of('stopped').filter((e) => e.reason === 'evicted');
  assert.deepEqual(
    evicted.map((e) => e.instance),
    [a.report.instance],
  );
  assert.equal(h.scheduler.status('a')!.instances.total, 0);
  assert.equal(h.scheduler.status('b')!.instances.idle, 1);
  assert.equal(h.runtime.alive('b')[0]!.id, b.report.instance);
  assert.ok(h.scheduler.capacity().usedMiB <= 256);
});

test('min-instances are not evicted; with nothing idle to evict the call gets 503 no_capacity', async () => {
  h = await harness({ memoryBudgetMiB: 256 });
  const gate = deferred();
  h.runtime.set('busy', { call: async (_inv, inst) => (await gate.promise, ok(inst.id)) });
  await h.scheduler.deployed(deployedOf('kept', { memory: 128, minInstances: 1 }));
  await h.telemetry.waitFor((e) => e.type === 'started');
  await h.scheduler.deployed(deployedOf('busy', { memory: 128 }));
  const entered = h.runtime.callsEntered('busy', 1);
  const running = h.scheduler.invoke(call('busy'));
  await entered;
  await h.scheduler.deployed(deployedOf('late', { memory: 128 }));
  const refused = await h.scheduler.invoke(call('late'));
  assert.equal(refused.status, 503);
  assert.equal(refused.report.error, 'no_capacity');
  assert.equal(h.telemetry.of('stopped').length, 0);
  assert.deepEqual(
    h.telemetry.of('rejected').map((e) => e.reason),
    ['no_capacity'],
  );
  gate.resolve();
  assert.equal((await running).status, 200);
});

test('a function bigger than the whole budget gets 503 no_capacity', async () => {
  h = await harness({ memoryBudgetMiB: 100 });
  await h.scheduler.deployed(deployedOf('huge', { memory: 200 }));
  const r = await h.scheduler.invoke(call('huge'));
  assert.equal(r.status, 503);
  assert.equal(r.report.error, 'no_capacity');
  assert.match(JSON.parse(r.body.toString()).error.message, /200 MiB/);
  assert.equal(h.runtime.instances.length, 0);
});

test('a queued call waiting for memory evicts an instance of another function as soon as it goes idle', async () => {
  h = await harness({ memoryBudgetMiB: 256 });
  const aGate = deferred();
  const bGate = deferred();
  h.runtime.set('a', { call: async (_inv, inst) => (await aGate.promise, ok(inst.id)) });
  h.runtime.set('b', {
    call: async (inv, inst) => (inv.body.toString() === 'wait' ? await bGate.promise : undefined, ok(inst.id)),
  });
  await h.scheduler.deployed(deployedOf('a', { memory: 128 }));
  await h.scheduler.deployed(deployedOf('b', { memory: 128, maxInstances: 2 }));
  const busyEntered = Promise.all([h.runtime.callsEntered('a', 1), h.runtime.callsEntered('b', 1)]);
  const aCall = h.scheduler.invoke(call('a'));
  const bFirst = h.scheduler.invoke(call('b', 'wait'));
  await busyEntered;
  // The budget is full of busy instances; b has one of its own, so its next call queues.
  const bSecond = h.scheduler.invoke(call('b', 'go'));
  assert.equal(h.scheduler.status('b')!.queued, 1);
  aGate.resolve();
  assert.equal((await aCall).status, 200);
  const second = await bSecond;
  assert.equal(second.status, 200);
  assert.equal(second.report.cold, true);
  assert.ok(second.report.queueMs > 0);
  assert.deepEqual(
    h.telemetry
      .of('stopped')
      .filter((e) => e.reason === 'evicted')
      .map((e) => e.fn),
    ['a'],
  );
  bGate.resolve();
  assert.equal((await bFirst).status, 200);
});
