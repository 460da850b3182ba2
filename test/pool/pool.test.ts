/** Pool policies, each shown by its observable effect (events and results, never timing thresholds). */
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { TernError } from '../../src/core/errors.js';
import { deferred, deployedOf, ok } from './fake-runtime.js';
import { call, harness, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

describe('reuse and reports', () => {
  test('a second call reuses the warm instance; reports say cold then warm', async () => {
    h = await harness();
    await h.scheduler.deployed(deployedOf('echo'));
    const first = await h.scheduler.invoke(call('echo'));
    const second = await h.scheduler.invoke(call('echo'));
    assert.equal(first.status, 200);
    assert.equal(first.report.cold, true);
    assert.equal(second.report.cold, false);
    assert.equal(second.report.instance, first.report.instance);
    assert.equal(second.body.toString(), first.report.instance);
    for (const r of [first, second]) {
      assert.equal(r.report.node, 'test-node');
      assert.equal(r.report.function, 'echo');
      assert.equal(r.report.offloaded, false);
      assert.deepEqual(r.report.hops, []);
      assert.ok(r.report.totalMs >= r.report.runMs);
    }
    assert.equal(second.report.initMs, 0);
    assert.equal(h.runtime.instances.length, 1);
    assert.equal(h.telemetry.of('completed').length, 2);
    assert.equal(h.telemetry.of('started').length, 1);
  });

  test('an unknown function is a 404 error result', async () => {
    h = await harness();
    const r = await h.scheduler.invoke(call('nope'));
    assert.equal(r.status, 404);
    assert.equal(r.report.error, 'not_found');
    assert.deepEqual(JSON.parse(r.body.toString()).error.code, 'not_found');
    assert.deepEqual(
      h.telemetry.of('rejected').map((e) => e.reason),
      ['not_found'],
    );
    assert.equal(h.telemetry.of('completed').length, 1);
  });
});

describe('single-use', () => {
  test('no two calls share an instance, and each is stopped after its call', async () => {
    h = await harness();
    await h.scheduler.deployed(deployedOf('once', { singleUse: true }));
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) ids.add((await h.scheduler.invoke(call('once'))).report.instance);
    assert.equal(ids.size, 3);
    await h.telemetry.waitFor((e) => e.type === 'stopped' && e.reason === 'single_use', 3);
    assert.equal(h.runtime.alive('once').length, 0);
  });

  test('prewarmed single-use instances serve one call each and are refilled', async () => {
    h = await harness();
    await h.scheduler.deployed(deployedOf('once', { singleUse: true, minInstances: 1 }));
    await h.telemetry.waitFor((e) => e.type === 'started');
    const r = await h.scheduler.invoke(call('once'));
    assert.equal(r.report.cold, false);
    await h.telemetry.waitFor((e) => e.type === 'started', 2);
    const r2 = await h.scheduler.invoke(call('once'));
    assert.notEqual(r2.report.instance, r.report.instance);
  });
});

describe('concurrency and max-instances', () => {
  test('concurrentRequests=1, maxInstances=2: a third concurrent call queues and is served by a freed instance', async () => {
    h = await harness();
    const gate = deferred();
    h.runtime.set('slow', { call: async (_inv, inst) => (await gate.promise, ok(inst.id)) });
    await h.scheduler.deployed(deployedOf('slow', { concurrentRequests: 1, maxInstances: 2 }));
    const entered = h.runtime.callsEntered('slow', 2);
    const calls = [
      h.scheduler.invoke(call('slow')),
      h.scheduler.invoke(call('slow')),
      h.scheduler.invoke(call('slow')),
    ];
    await entered;
    const status = h.scheduler.status('slow')!;
    assert.equal(status.instances.busy, 2);
    assert.equal(status.queued, 1);
    gate.resolve();
    const [a, b, c] = await Promise.all(calls);
    assert.deepEqual([a!.status, b!.status, c!.status], [200, 200, 200]);
    assert.equal(h.runtime.instances.length, 2);
    assert.equal(c!.report.cold, false);
    assert.ok([a!.report.instance, b!.report.instance].includes(c!.report.instance));
    assert.ok(c!.report.queueMs > 0);
  });

  test('concurrentRequests=2 puts two calls on one instance', async () => {
    h = await harness();
    const gate = deferred();
    h.runtime.set('multi', { call: async (_inv, inst) => (await gate.promise, ok(inst.id)) });
    await h.scheduler.deployed(deployedOf('multi', { concurrentRequests: 2, maxInstances: 1 }));
    const entered = h.runtime.callsEntered('multi', 2);
    const calls = [h.scheduler.invoke(call('multi')), h.scheduler.invoke(call('multi'))];
    await entered;
    assert.equal(h.runtime.instances.length, 1);
    assert.equal(h.runtime.instances[0]!.inflight, 2);
    gate.resolve();
    const results = await Promise.all(calls);
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200],
    );
  });

  test('maxInstances is never exceeded under a burst', async () => {
    h = await harness();
    const gate = deferred();
    let peak = 0;
    h.runtime.set('burst', {
      call: async (_inv, inst) => {
        peak = Math.max(peak, h!.runtime.alive('burst').length);
        await gate.promise;
        return ok(inst.id);
      },
    });
    await h.scheduler.deployed(deployedOf('burst', { maxInstances: 3 }));
    const entered = h.runtime.callsEntered('burst', 3);
    const calls = Array.from({ length: 8 }, () => h!.scheduler.invoke(call('burst')));
    await entered;
    assert.equal(h.scheduler.status('burst')!.queued, 5);
    gate.resolve();
    const results = await Promise.all(calls);
    assert.ok(results.every((r) => r.status === 200));
    assert.equal(h.runtime.instances.length, 3);
    assert.equal(peak, 3);
  });
});

describe('keepalive and min-instances', () => {
  test('an idle instance is reaped after its keepalive', async () => {
    h = await harness();
    await h.scheduler.deployed(deployedOf('brief', { keepaliveMs: 50 }));
    const r = await h.scheduler.invoke(call('brief'));
    await h.telemetry.waitFor(
      (e) => e.type === 'stopped' && e.reason === 'keepalive' && e.instance === r.report.instance,
    );
    assert.equal(h.scheduler.status('brief')!.instances.total, 0);
    assert.equal(h.scheduler.capacity().usedMiB, 0);
  });

  test('min-instances are prewarmed at deploy, kept past keepalive, and refilled when one dies', async () => {
    h = await harness();
    await h.scheduler.deployed(deployedOf('warm', { minInstances: 2, keepaliveMs: 20 }));
    await h.telemetry.waitFor((e) => e.type === 'started', 2);
    assert.equal(h.scheduler.status('warm')!.instances.idle, 2);
    const r = await h.scheduler.invoke(call('warm'));
    assert.equal(r.report.cold, false);
    h.runtime.alive('warm')[0]!.die('oom killer');
    await h.telemetry.waitFor((e) => e.type === 'stopped' && e.reason === 'crashed');
    await h.telemetry.waitFor((e) => e.type === 'started', 3);
    assert.equal(h.runtime.alive('warm').length, 2);
    // A function with the same keepalive, used after them: once it is reaped, theirs has passed too.
    await h.scheduler.deployed(deployedOf('probe', { keepaliveMs: 20 }));
    await h.scheduler.invoke(call('probe'));
    await h.telemetry.waitFor((e) => e.type === 'stopped' && e.fn === 'probe' && e.reason === 'keepalive');
    assert.equal(h.runtime.alive('warm').length, 2);
    assert.equal(h.telemetry.of('stopped').filter((e) => e.fn === 'warm' && e.reason === 'keepalive').length, 0);
  });
});

describe('queue', () => {
  test('over capacity: 429 queue_full with Retry-After; the queued calls still run', async () => {
    h = await harness({ queue: { capacity: 1, waitMs: 30_000 } });
    const gate = deferred();
    h.runtime.set('one', { call: async (_inv, inst) => (await gate.promise, ok(inst.id)) });
    await h.scheduler.deployed(deployedOf('one', { maxInstances: 1 }));
    const entered = h.runtime.callsEntered('one', 1);
    const running = h.scheduler.invoke(call('one'));
    await entered;
    const queued = h.scheduler.invoke(call('one'));
    const refused = await h.scheduler.invoke(call('one'));
    assert.equal(refused.status, 429);
    assert.equal(refused.report.error, 'queue_full');
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    assert.deepEqual(
      h.telemetry.of('rejected').map((e) => e.reason),
      ['queue_full'],
    );
    gate.resolve();
    assert.equal((await running).status, 200);
    assert.equal((await queued).status, 200);
  });

  test('capacity 0: no queueing, an immediate 429 when no instance is free', async () => {
    h = await harness({ queue: { capacity: 0, waitMs: 30_000 } });
    const gate = deferred();
    h.runtime.set('one', { call: async (_inv, inst) => (await gate.promise, ok(inst.id)) });
    await h.scheduler.deployed(deployedOf('one', { maxInstances: 1 }));
    const running = h.scheduler.invoke(call('one'));
    await h.runtime.callsEntered('one', 1);
    const refused = await h.scheduler.invoke(call('one'));
    assert.equal(refused.status, 429);
    gate.resolve();
    assert.equal((await running).status, 200);
  });

  test('waiting past waitMs: 503 queue_timeout', async () => {
    h = await harness({ queue: { capacity: 5, waitMs: 50 } });
    const gate = deferred();
    h.runtime.set('one', { call: async (_inv, inst) => (await gate.promise, ok(inst.id)) });
    await h.scheduler.deployed(deployedOf('one', { maxInstances: 1 }));
    const running = h.scheduler.invoke(call('one'));
    await h.runtime.callsEntered('one', 1);
    const late = await h.scheduler.invoke(call('one'));
    assert.equal(late.status, 503);
    assert.equal(late.report.error, 'queue_timeout');
    assert.deepEqual(
      h.telemetry.of('rejected').map((e) => e.reason),
      ['queue_timeout'],
    );
    gate.resolve();
    assert.equal((await running).status, 200);
  });

  test('an offloader answers what the pool would refuse', async () => {
    const reasons: string[] = [];
    h = await harness({
      queue: { capacity: 0, waitMs: 1000 },
      offloader: async (inv, reason) => {
        reasons.push(reason.code);
        return {
          status: 200,
          headers: {},
          body: Buffer.from('elsewhere'),
          report: {
            node: 'peer',
            function: inv.function,
            instance: 'x',
            cold: false,
            queueMs: 0,
            initMs: 0,
            runMs: 0,
            totalMs: 0,
            offloaded: true,
            hops: [{ node: 'peer', ms: 1 }],
          },
        };
      },
    });
    const gate = deferred();
    h.runtime.set('one', { call: async (_inv, inst) => (await gate.promise, ok(inst.id)) });
    await h.scheduler.deployed(deployedOf('one', { maxInstances: 1 }));
    const running = h.scheduler.invoke(call('one'));
    await h.runtime.callsEntered('one', 1);
    const moved = await h.scheduler.invoke(call('one'));
    assert.equal(moved.body.toString(), 'elsewhere');
    assert.equal(moved.report.offloaded, true);
    assert.deepEqual(reasons, ['queue_full']);
    assert.deepEqual(
      h.telemetry.of('offloaded').map((e) => e.target),
      ['peer'],
    );
    assert.equal(h.telemetry.of('rejected').length, 0);
    gate.resolve();
    await running;
  });
});

describe('timeouts and crashes', () => {
  test('a hanging call gets 504, its instance is killed and the next call runs on a new one', async () => {
    h = await harness();
    let aborted = false;
    let first = true;
    h.runtime.set('hang', {
      call: (_inv, inst, signal) => {
        if (!first) return ok(inst.id);
        first = false;
        signal.addEventListener('abort', () => (aborted = true));
        return new Promise(() => {}); // ignores the signal: only the pool's timer can end it
      },
    });
    await h.scheduler.deployed(deployedOf('hang', { timeoutMs: 100 }));
    const timedOut = await h.scheduler.invoke(call('hang'));
    assert.equal(timedOut.status, 504);
    assert.equal(timedOut.report.error, 'timeout');
    assert.equal(aborted, true);
    await h.telemetry.waitFor((e) => e.type === 'stopped' && e.reason === 'timeout');
    assert.equal(h.runtime.instances[0]!.stoppedBy, 'kill');
    const next = await h.scheduler.invoke(call('hang'));
    assert.equal(next.status, 200);
    assert.notEqual(next.report.instance, timedOut.report.instance);
  });

  test('a crash is a 502 for that call; the instance is removed and the next call is healthy', async () => {
    h = await harness();
    let crashes = 1;
    h.runtime.set('fragile', {
      call: (_inv, inst) => {
        if (crashes-- > 0) throw new TernError('function_crashed', 'segfault');
        return ok(inst.id);
      },
    });
    await h.scheduler.deployed(deployedOf('fragile'));
    const crashed = await h.scheduler.invoke(call('fragile'));
    assert.equal(crashed.status, 502);
    assert.equal(crashed.report.error, 'function_crashed');
    assert.match(crashed.body.toString(), /segfault/);
    const next = await h.scheduler.invoke(call('fragile'));
    assert.equal(next.status, 200);
    assert.notEqual(next.report.instance, crashed.report.instance);
    await h.telemetry.waitFor((e) => e.type === 'stopped' && e.reason === 'crashed');
  });

  test('memory_exceeded also replaces the instance', async () => {
    h = await harness();
    let fail = true;
    h.runtime.set('hungry', {
      call: (_inv, inst) => {
        if (fail) {
          fail = false;
          throw new TernError('memory_exceeded', 'over 64 MiB');
        }
        return ok(inst.id);
      },
    });
    await h.scheduler.deployed(deployedOf('hungry'));
    const r = await h.scheduler.invoke(call('hungry'));
    assert.equal(r.status, 502);
    assert.equal(r.report.error, 'memory_exceeded');
    assert.notEqual((await h.scheduler.invoke(call('hungry'))).report.instance, r.report.instance);
  });

  test('function_error is a 502 but the instance stays', async () => {
    h = await harness();
    let fail = true;
    h.runtime.set('throws', {
      call: (_inv, inst) => {
        if (fail) {
          fail = false;
          throw new TernError('function_error', 'TypeError: x is undefined');
        }
        return ok(inst.id);
      },
    });
    await h.scheduler.deployed(deployedOf('throws'));
    const r = await h.scheduler.invoke(call('throws'));
    assert.equal(r.status, 502);
    assert.equal(r.report.error, 'function_error');
    assert.equal((await h.scheduler.invoke(call('throws'))).report.instance, r.report.instance);
  });

  test('an idle instance that exits on its own is removed', async () => {
    h = await harness();
    await h.scheduler.deployed(deployedOf('mortal'));
    const r = await h.scheduler.invoke(call('mortal'));
    h.runtime.instances[0]!.die('killed by signal 9');
    await h.telemetry.waitFor(
      (e) => e.type === 'stopped' && e.reason === 'crashed' && e.instance === r.report.instance,
    );
    assert.equal(h.scheduler.status('mortal')!.instances.total, 0);
    const next = await h.scheduler.invoke(call('mortal'));
    assert.equal(next.status, 200);
    assert.notEqual(next.report.instance, r.report.instance);
  });

  test('a failing start is a 502 with the reason, and its memory is released', async () => {
    h = await harness();
    h.runtime.set('broken', {
      start: () => {
        throw new Error('exec format error');
      },
    });
    await h.scheduler.deployed(deployedOf('broken', { memory: 128 }));
    const r = await h.scheduler.invoke(call('broken'));
    assert.equal(r.status, 502);
    assert.equal(r.report.error, 'function_crashed');
    assert.match(r.body.toString(), /exec format error/);
    assert.equal(h.scheduler.capacity().usedMiB, 0);
    assert.equal(h.telemetry.of('stopped')[0]!.reason, 'start_failed');
  });

  test("a start error's own TernError reaches the caller", async () => {
    h = await harness();
    h.runtime.set('badspec', {
      start: () => {
        throw new TernError('bad_spec', 'handler missing');
      },
    });
    await h.scheduler.deployed(deployedOf('badspec'));
    const r = await h.scheduler.invoke(call('badspec'));
    assert.equal(r.status, 400);
    assert.equal(r.report.error, 'bad_spec');
  });
});

describe('shutdown', () => {
  test('close refuses new calls, lets in-flight ones finish, and stops every instance', async () => {
    h = await harness();
    const gate = deferred();
    h.runtime.set('slow', { call: async (_inv, inst) => (await gate.promise, ok(inst.id)) });
    await h.scheduler.deployed(deployedOf('slow'));
    await h.scheduler.deployed(deployedOf('idle'));
    await h.scheduler.invoke(call('idle'));
    const entered = h.runtime.callsEntered('slow', 1);
    const inflight = h.scheduler.invoke(call('slow'));
    await entered;
    const closing = h.scheduler.close(10_000);
    const refused = await h.scheduler.invoke(call('slow'));
    assert.equal(refused.status, 503);
    assert.equal(refused.report.error, 'unavailable');
    gate.resolve();
    assert.equal((await inflight).status, 200);
    await closing;
    assert.equal(h.runtime.alive().length, 0);
    assert.ok(h.telemetry.of('stopped').every((e) => e.reason === 'shutdown'));
  });

  test('a straggler past the drain window is killed', async () => {
    h = await harness();
    h.runtime.set('stuck', {
      call: (_inv, _inst, signal) =>
        new Promise((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(new TernError('function_crashed', 'killed'))),
        ),
    });
    await h.scheduler.deployed(deployedOf('stuck'));
    const entered = h.runtime.callsEntered('stuck', 1);
    const inflight = h.scheduler.invoke(call('stuck'));
    await entered;
    await h.scheduler.close(20);
    assert.equal((await inflight).status, 502);
    assert.equal(h.runtime.instances[0]!.stoppedBy, 'kill');
  });
});
