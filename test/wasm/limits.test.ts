/**
 * Hard limits of the wasm runtime with real misbehaving modules: an endless loop stopped by abort
 * or kill (its worker replaced, the next call fine), a memory bomb stopped at the cap, traps,
 * stack overflow, runaway output, a full queue, shutdown.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TernError, type ErrorCode } from '../../src/core/errors.js';
import type { Runtime } from '../../src/runtimes/runtime.js';
import {
  buildModules,
  deployed,
  EXAMPLES,
  FIXTURE_BUILD,
  invocation,
  never,
  newRuntime,
  startInstance,
} from './helpers.js';

function isTernError(code: ErrorCode, message?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof TernError, `expected a TernError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  };
}

const hello = () => deployed(join(EXAMPLES, 'hello'), { name: 'hello', handler: 'hello.wasm' });
const fixture = (name: string, toml: Record<string, unknown> = {}) =>
  deployed(FIXTURE_BUILD, { name, handler: `${name}.wasm`, ...toml });

async function helloWorks(runtime: Runtime): Promise<void> {
  const { instance } = await startInstance(runtime, hello());
  const res = await instance.call(invocation('hello'), never());
  assert.equal(res.body.toString(), 'Hello from wasm!\n');
}

describe('wasm runtime: limits', () => {
  let runtime: Runtime;
  before(async () => {
    buildModules();
    runtime = newRuntime({ workers: 2, maxStdout: 1024 * 1024 });
    await runtime.prepare(hello());
  });
  after(async () => {
    await runtime.close();
  });

  test('an endless loop is stopped by the abort signal; the worker is replaced and the next calls work', async () => {
    const fn = fixture('loop');
    await runtime.prepare(fn);
    for (let round = 0; round < 3; round++) {
      const { instance } = await startInstance(runtime, fn);
      const ac = new AbortController();
      const call = instance.call(invocation('loop'), ac.signal);
      setTimeout(() => ac.abort(new TernError('timeout', 'past the function timeout')), 50);
      await assert.rejects(call, isTernError('timeout', /past the function timeout/));
      await helloWorks(runtime);
    }
  });

  test('an abort without a TernError reason still rejects as a timeout', async () => {
    const { instance } = await startInstance(runtime, fixture('loop'));
    const ac = new AbortController();
    const call = instance.call(invocation('loop'), ac.signal);
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(call, isTernError('timeout'));
    await helloWorks(runtime);
  });

  test('kill() stops a running call; the instance refuses new calls; others still work', async () => {
    const { instance } = await startInstance(runtime, fixture('loop'));
    const call = instance.call(invocation('loop'), never());
    setTimeout(() => void instance.kill(), 20);
    await assert.rejects(call, isTernError('function_crashed', /killed/));
    await assert.rejects(instance.call(invocation('loop'), never()), isTernError('function_crashed'));
    await instance.kill();
    await helloWorks(runtime);
  });

  test('an already aborted signal never starts the guest', async () => {
    const { instance } = await startInstance(runtime, fixture('loop'));
    const ac = new AbortController();
    ac.abort(new TernError('timeout', 'too late'));
    await assert.rejects(instance.call(invocation('loop'), ac.signal), isTernError('timeout', /too late/));
  });

  for (const name of ['membomb', 'membomb-imported']) {
    test(`${name}: growth past the memory limit fails the call with memory_exceeded`, async () => {
      const fn = fixture(name, { memory: 16 });
      await runtime.prepare(fn);
      const { instance, logs } = await startInstance(runtime, fn);
      await assert.rejects(instance.call(invocation(name), never()), (e: unknown) => {
        isTernError('memory_exceeded', /16 MiB/)(e);
        assert.equal((e as TernError).status, 502);
        return true;
      });
      assert.ok(logs.some((l) => l.stream === 'stderr' && /16 MiB/.test(l.line)));
      // The cap is per call: the worker is fine and so is the next call.
      await assert.rejects(instance.call(invocation(name), never()), isTernError('memory_exceeded'));
      await helloWorks(runtime);
    });
  }

  test('a trap is a function_error with the trap message, also logged on stderr', async () => {
    const fn = fixture('trap');
    await runtime.prepare(fn);
    const { instance, logs } = await startInstance(runtime, fn);
    await assert.rejects(
      instance.call(invocation('trap'), never()),
      isTernError('function_error', /^wasm trap: unreachable/),
    );
    const stderr = logs.filter((l) => l.stream === 'stderr').map((l) => l.line);
    assert.ok(stderr.includes('about to trap'), stderr.join('\n'));
    assert.ok(
      stderr.some((l) => /wasm trap: unreachable/.test(l)),
      stderr.join('\n'),
    );
    await helloWorks(runtime);
  });

  test('stack overflow is a trap, not a crash', async () => {
    const { instance } = await startInstance(runtime, fixture('cgi'));
    await assert.rejects(
      instance.call(invocation('cgi', { query: 'recurse' }), never()),
      isTernError('function_error', /wasm trap/),
    );
    const res = await instance.call(invocation('cgi', { query: 'plain' }), never());
    assert.equal(res.status, 200);
  });

  test('stdout past the output limit fails the call', async () => {
    const { instance } = await startInstance(runtime, fixture('cgi'));
    await assert.rejects(
      instance.call(invocation('cgi', { query: 'big' }), never()),
      isTernError('function_error', /too much output/),
    );
    await helloWorks(runtime);
  });
});

describe('wasm runtime: queue and shutdown', () => {
  test('a full queue refuses with no_capacity; queued calls run once a worker frees up', async () => {
    // The worker pool alone: hello would otherwise run inline, beside the queue.
    const runtime = newRuntime({ workers: 1, maxQueue: 1, inline: false });
    try {
      await runtime.prepare(hello());
      await helloWorks(runtime); // the one worker is up and idle
      const loop = await startInstance(runtime, fixture('loop'));
      const h = await startInstance(runtime, hello());
      const ac = new AbortController();
      const running = loop.instance.call(invocation('loop'), ac.signal);
      const queued = h.instance.call(invocation('hello'), never());
      await assert.rejects(h.instance.call(invocation('hello'), never()), isTernError('no_capacity'));
      ac.abort(new TernError('timeout', 'stop the loop'));
      await assert.rejects(running, isTernError('timeout'));
      assert.equal((await queued).body.toString(), 'Hello from wasm!\n');
    } finally {
      await runtime.close();
    }
  });

  test('a call that runs long does not make another function wait out its timeout', async () => {
    // One worker, no inline path: before, hello waited for the loop's abort however long it took.
    const runtime = newRuntime({ workers: 1, inline: false });
    try {
      await runtime.prepare(hello());
      await helloWorks(runtime);
      const loop = await startInstance(runtime, fixture('loop'));
      const stopLoop = new AbortController();
      let loopEnded = false;
      const running = loop.instance.call(invocation('loop'), stopLoop.signal).finally(() => {
        loopEnded = true;
      });
      for (let i = 0; i < 3; i++) await helloWorks(runtime);
      assert.equal(loopEnded, false, 'hello answered only once the loop had ended');
      // A second call of the spinning function stays queued: its share of the pool is taken.
      const second = loop.instance.call(invocation('loop'), stopLoop.signal);
      await helloWorks(runtime);
      const ended = Promise.all([running, second].map((c) => assert.rejects(c, isTernError('timeout'))));
      stopLoop.abort(new TernError('timeout', 'stop the loops'));
      await ended;
      await helloWorks(runtime);
    } finally {
      await runtime.close();
    }
  });

  test('a queued call whose signal aborts leaves the queue', async () => {
    const runtime = newRuntime({ workers: 1, inline: false });
    try {
      await runtime.prepare(hello());
      await helloWorks(runtime);
      const loop = await startInstance(runtime, fixture('loop'));
      const h = await startInstance(runtime, hello());
      const stopLoop = new AbortController();
      const running = loop.instance.call(invocation('loop'), stopLoop.signal);
      const giveUp = new AbortController();
      const queued = h.instance.call(invocation('hello'), giveUp.signal);
      giveUp.abort(new TernError('queue_timeout', 'waited too long'));
      await assert.rejects(queued, isTernError('queue_timeout'));
      stopLoop.abort();
      await assert.rejects(running, isTernError('timeout'));
      await helloWorks(runtime);
    } finally {
      await runtime.close();
    }
  });

  test('close() stops running calls and refuses new ones', async () => {
    const runtime = newRuntime({ workers: 1 });
    await runtime.prepare(hello());
    await helloWorks(runtime);
    const { instance } = await startInstance(runtime, fixture('loop'));
    const running = assert.rejects(instance.call(invocation('loop'), never()), isTernError('unavailable'));
    await runtime.close();
    await running;
    const h = await startInstance(runtime, hello());
    await assert.rejects(h.instance.call(invocation('hello'), never()), isTernError('unavailable'));
  });
});
