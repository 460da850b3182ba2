/**
 * The pool's policies shown by their observable effect, with real runtimes behind a real node:
 * single-use, reuse, concurrency + max-instances queueing, keepalive, prewarm, crash, update, and
 * the memory budget's eviction.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { packFiles, packFolder } from '../helpers/archive.js';
import { REPO, startTern, waitForStatus, type TernProcess } from '../helpers/node.js';

interface Report {
  instance: string;
  cold: boolean;
  queueMs: number;
  initMs: number;
}

const SLEEPER = 'import time\ndef handle(req):\n    time.sleep(float(req.text() or "0"))\n    return "done"\n';

async function call(
  node: TernProcess,
  name: string,
  body?: string,
): Promise<{ status: number; text: string; report: Report }> {
  const res = await fetch(`${node.url}/fn/${name}`, { method: 'POST', body: body ?? '' });
  return {
    status: res.status,
    text: await res.text(),
    report: JSON.parse(res.headers.get('x-tern-report') ?? '{}') as Report,
  };
}

async function deploy(node: TernProcess, name: string, toml: string, files: Record<string, string>): Promise<void> {
  const res = await node.api('PUT', `/v1/functions/${name}`, {
    body: await packFiles({ 'function.toml': toml, ...files }),
  });
  assert.ok(res.status === 201 || res.status === 200, await res.text());
}

describe('pool policies with real runtimes', () => {
  let node: TernProcess;
  before(async () => {
    // One edge loop: these tests follow one instance from call to call, and wasm instances are
    // leased per loop (e2e/loops.test.ts shows the policies across several).
    node = await startTern({ args: ['--loops', '1'] });
  });
  after(async () => {
    assert.equal(await node.stop({ cleanup: true }), 0);
  });

  test('single-use: no two calls share an instance (python); wasm calls are fresh without one each', async () => {
    await deploy(node, 'once', 'runtime = "python"\nsingle-use = true\n', { 'main.py': SLEEPER });
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const r = await call(node, 'once');
      assert.equal(r.status, 200);
      assert.equal(r.report.cold, true);
      ids.add(r.report.instance);
    }
    assert.equal(ids.size, 3);

    const wasm = new Set<string>();
    assert.equal(
      (await node.api('PUT', '/v1/functions/hello', { body: await packFolder(`${REPO}/examples/hello`) })).status,
      201,
    );
    // Every wasm call runs in a fresh WebAssembly instance (test/wasm/runtime.test.ts shows nothing
    // leaks between calls), so single-use spends no pool instance per call: the second call is warm.
    const calls = [];
    for (let i = 0; i < 3; i++) calls.push((await call(node, 'hello')).report);
    for (const r of calls) wasm.add(r.instance);
    assert.equal(wasm.size, 1);
    assert.equal(calls[0]!.cold, true);
    assert.equal(calls[2]!.cold, false);
  });

  test('a warm instance is reused: the second call is warm on the same instance', async () => {
    await deploy(node, 'reuse', 'runtime = "python"\n', { 'main.py': SLEEPER });
    const first = await call(node, 'reuse');
    const second = await call(node, 'reuse');
    assert.equal(first.report.cold, true);
    assert.equal(second.report.cold, false);
    assert.equal(second.report.instance, first.report.instance);
  });

  test('concurrent-requests = 1, max-instances = 2: a third concurrent call queues, then runs warm', async () => {
    await deploy(node, 'pair', 'runtime = "python"\nconcurrent-requests = 1\nmax-instances = 2\n', {
      'main.py': SLEEPER,
    });
    const a = call(node, 'pair', '1');
    const b = call(node, 'pair', '1');
    await waitForStatus(node, 'pair', (s) => s.instances.busy === 2);
    const c = call(node, 'pair', '0');
    await waitForStatus(node, 'pair', (s) => s.queued === 1);
    const [ra, rb, rc] = await Promise.all([a, b, c]);
    assert.deepEqual([ra.status, rb.status, rc.status], [200, 200, 200]);
    assert.notEqual(ra.report.instance, rb.report.instance);
    assert.ok([ra.report.instance, rb.report.instance].includes(rc.report.instance), 'never a third instance');
    assert.ok(rc.report.queueMs > 0, `the queued call's report shows its wait (${rc.report.queueMs} ms)`);
    assert.equal(rc.report.cold, false);
  });

  test('keepalive: an idle instance is stopped, and the next call is cold', async () => {
    await deploy(node, 'brief', 'runtime = "python"\nkeepalive = "300ms"\n', { 'main.py': SLEEPER });
    const first = await call(node, 'brief');
    await waitForStatus(node, 'brief', (s) => s.instances.total === 0);
    const next = await call(node, 'brief');
    assert.equal(next.report.cold, true);
    assert.notEqual(next.report.instance, first.report.instance);
  });

  test('min-instances are started at deploy and serve the first call warm', async () => {
    await deploy(node, 'ready', 'runtime = "python"\nmin-instances = 2\n', { 'main.py': SLEEPER });
    await waitForStatus(node, 'ready', (s) => s.instances.idle === 2);
    const first = await call(node, 'ready');
    assert.equal(first.report.cold, false);
  });

  test('an instance that dies mid-call gives 502, and the next call gets a healthy one', async () => {
    await deploy(node, 'fragile', 'runtime = "python"\n', {
      'main.py': 'import os\ndef handle(req):\n    if req.text() == "die":\n        os._exit(3)\n    return "alive"\n',
    });
    const healthy = await call(node, 'fragile');
    const died = await call(node, 'fragile', 'die');
    assert.equal(died.status, 502);
    assert.match(died.text, /function_crashed/);
    const after = await call(node, 'fragile');
    assert.equal(after.status, 200);
    assert.equal(after.text, 'alive');
    assert.notEqual(after.report.instance, healthy.report.instance);
  });

  test('an update drains the old version: in-flight calls finish on it, new calls get the new one', async () => {
    const version = (v: string) =>
      `import time\ndef handle(req):\n    time.sleep(float(req.text() or "0"))\n    return "${v}"\n`;
    await deploy(node, 'evolving', 'runtime = "python"\n', { 'main.py': version('v1') });
    const inflight = call(node, 'evolving', '1.5');
    await waitForStatus(node, 'evolving', (s) => s.instances.busy === 1);
    await deploy(node, 'evolving', 'runtime = "python"\n', { 'main.py': version('v2') });
    const fresh = await call(node, 'evolving', '0');
    assert.equal(fresh.text, 'v2');
    const old = await inflight;
    assert.equal(old.status, 200);
    assert.equal(old.text, 'v1');
  });
});

describe('memory budget', () => {
  let node: TernProcess;
  before(async () => {
    node = await startTern({ args: ['--memory-budget', '200'] });
  });
  after(async () => {
    await node.stop({ cleanup: true });
  });

  test('an idle instance of another function is evicted to make room', async () => {
    await deploy(node, 'first', 'runtime = "python"\nmemory = 128\n', { 'main.py': SLEEPER });
    await deploy(node, 'second', 'runtime = "python"\nmemory = 128\n', { 'main.py': SLEEPER });
    assert.equal((await call(node, 'first')).status, 200);
    await waitForStatus(node, 'first', (s) => s.instances.idle === 1);
    const second = await call(node, 'second');
    assert.equal(second.status, 200);
    await waitForStatus(node, 'first', (s) => s.instances.total === 0);
    const info = (await (await node.api('GET', '/v1/info')).json()) as {
      capacity: { memoryMiB: number; usedMiB: number };
    };
    assert.equal(info.capacity.memoryMiB, 200);
    assert.ok(info.capacity.usedMiB <= 200);
  });
});
