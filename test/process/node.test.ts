/** The node handler contract through the Runtime API, against real sandboxed processes. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isTernError } from '../../src/core/errors.js';
import type { DeployedFunction } from '../../src/registry/registry.js';
import { createNodeRuntime } from '../../src/runtimes/process/index.js';
import type { Instance, Runtime } from '../../src/runtimes/runtime.js';
import { invoke, json, testBed, type TestBed } from './helpers.js';

describe('node runtime: handler contract', () => {
  let bed: TestBed;
  let rt: Runtime;
  let fn: DeployedFunction;

  before(async () => {
    bed = await testBed();
    rt = createNodeRuntime(bed.ctx);
    fn = await bed.fn('node-contract');
    await rt.prepare(fn);
  });

  after(async () => {
    await rt.close();
    await bed.cleanup();
  });

  const started = new Map<string, Instance>();
  async function instanceFor(handler: string, concurrentRequests = 1): Promise<Instance> {
    const key = `${handler}/${concurrentRequests}`;
    let inst = started.get(key);
    if (!inst) {
      inst = await bed.start(rt, { ...fn, spec: { ...fn.spec, handler, concurrentRequests } });
      started.set(key, inst);
    }
    return inst;
  }

  test('probe finds the node binary inside the sandbox', async () => {
    const probe = await rt.probe();
    assert.equal(probe.available, true, probe.detail);
    assert.match(probe.detail ?? '', new RegExp(process.version.replaceAll('.', '\\.')));
  });

  test('the default export (ESM) returning a string', async () => {
    const r = await invoke(await instanceFor('index.js'));
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.body.toString(), 'Hello from node!\n');
  });

  test('a Buffer is an octet-stream body', async () => {
    const r = await invoke(await instanceFor('index.js:raw'));
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    assert.deepEqual([...r.body], [0, 1, 255]);
  });

  test('an object is JSON; the request carries method, path, query, params, headers and body', async () => {
    const r = await invoke(await instanceFor('index.js:asJson'), {
      method: 'PATCH',
      path: '/a/b',
      query: 'x=1&x=2&y=z%26',
      headers: { 'X-One': '1' },
      body: Buffer.from('payload'),
    });
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(json(r), {
      method: 'PATCH',
      path: '/a/b',
      query: 'x=1&x=2&y=z%26',
      params: { x: '1', y: 'z&' },
      headers: { 'x-one': '1' },
      body: 'payload',
    });
    const parsed = await invoke(await instanceFor('index.js:parsedBody'), {
      method: 'POST',
      body: Buffer.from('[1,"two"]'),
    });
    assert.deepEqual(json(parsed), { got: [1, 'two'] });
  });

  test('{status, headers, body} and a fetch Response set all three', async () => {
    const o = await invoke(await instanceFor('index.js:responseObject'));
    assert.equal(o.status, 404);
    assert.equal(o.headers['x-reason'], 'missing');
    assert.equal(o.headers['content-type'], 'text/x-custom');
    assert.equal(o.body.toString(), 'nope\n');
    const f = await invoke(await instanceFor('index.js:fetchResponse'));
    assert.equal(f.status, 201);
    assert.equal(f.headers.location, '/made/1');
    assert.equal(f.body.toString(), 'made');
  });

  test('async handlers and the context', async () => {
    assert.deepEqual(json(await invoke(await instanceFor('index.js:later'))), { async: true });
    const inst = await instanceFor('index.js:withCtx');
    assert.deepEqual(json(await invoke(inst, { id: 'node-ctx-1' })), {
      call: 'node-ctx-1',
      function: 'node-contract',
      instance: inst.id,
    });
  });

  test('a throw or a rejection is a function_error; the instance keeps serving', async () => {
    const inst = await instanceFor('index.js:failing');
    await assert.rejects(
      invoke(inst, { path: '/p' }),
      (e: unknown) => isTernError(e) && e.code === 'function_error' && e.message === 'TypeError: boom at /p',
    );
    assert.equal((await invoke(inst, { query: 'ok' })).body.toString(), 'fine');
    await assert.rejects(
      invoke(await instanceFor('index.js:rejecting')),
      (e: unknown) => isTernError(e) && e.message === 'RangeError: async boom',
    );
  });

  test('CommonJS modules: module.exports as the handler, and exports.handle', async () => {
    const cjs = await bed.fn('node-cjs');
    await rt.prepare(cjs);
    assert.deepEqual(json(await invoke(await bed.start(rt, cjs), { method: 'DELETE' })), {
      style: 'commonjs',
      method: 'DELETE',
      platform: 'linux',
    });
    const named = await bed.fn('node-cjs-named');
    await rt.prepare(named);
    assert.equal(
      (await invoke(await bed.start(rt, named), { method: 'POST', body: Buffer.from('1234') })).body.toString(),
      'named handle, 4 bytes',
    );
  });

  test('concurrent-requests > 1: calls overlap in one instance, each log line tagged with its call', async () => {
    const inst = await instanceFor('index.js:meet', 4);
    const [a, b] = await Promise.all([
      invoke(inst, { id: 'meet-a', query: 'name=a' }),
      invoke(inst, { id: 'meet-b', query: 'name=b' }),
    ]);
    assert.deepEqual(json(a), { me: 'a', sawOther: true, call: 'meet-a' });
    assert.deepEqual(json(b), { me: 'b', sawOther: true, call: 'meet-b' });
    const tagged = bed.logs.filter((l) => l.instance === inst.id && /^call [ab] done$/.test(l.line));
    assert.deepEqual(tagged.map((l) => [l.line, l.callId]).sort(), [
      ['call a done', 'meet-a'],
      ['call b done', 'meet-b'],
    ]);
  });

  test('an instance for one call at a time still answers two calls sent at once', async () => {
    const inst = await instanceFor('index.js:meet', 1);
    // The pool never does this; the protocol copes all the same (calls are matched by id).
    const [a, b] = await Promise.all([invoke(inst, { query: 'name=a' }), invoke(inst, { query: 'name=b' })]);
    assert.equal((json(a) as { me: string }).me, 'a');
    assert.equal((json(b) as { me: string }).me, 'b');
  });

  test('console output is logged with the call id', async () => {
    const inst = await instanceFor('index.js:logs');
    await invoke(inst, { id: 'node-logs-1' });
    const mine = bed.logs.filter((l) => l.instance === inst.id && l.callId === 'node-logs-1');
    assert.deepEqual(
      mine.map((l) => [l.stream, l.line]),
      [
        ['stdout', 'printed line 1'],
        ['stderr', 'printed line 2'],
        ['stdout', 'partial line'],
      ],
    );
    assert.ok(bed.logs.some((l) => l.instance === inst.id && l.line === 'module loaded' && l.callId === undefined));
  });

  test('an uncaught exception ends the instance with the reason', async () => {
    const inst = await bed.start(rt, { ...fn, spec: { ...fn.spec, handler: 'index.js:crash' } });
    const exited = new Promise<string>((resolve) => inst.onExit(resolve));
    assert.equal((await invoke(inst)).body.toString(), 'crashing soon');
    assert.match(await exited, /^exited with code 1: .*uncaught outside the handler|^exited with code 1/);
    await assert.rejects(invoke(inst), (e: unknown) => isTernError(e) && e.code === 'function_crashed');
  });

  test('process.exit ends the call with function_crashed', async () => {
    const inst = await bed.start(rt, { ...fn, spec: { ...fn.spec, handler: 'index.js:exitNow' } });
    await assert.rejects(
      invoke(inst, { query: 'code=4' }),
      (e: unknown) => isTernError(e) && e.code === 'function_crashed' && /exited with code 4/.test(e.message),
    );
  });

  test('a heap hog is reported as out of memory', async () => {
    const inst = await bed.start(rt, { ...fn, spec: { ...fn.spec, handler: 'index.js:hog', memory: 64 } });
    await assert.rejects(
      invoke(inst),
      (e: unknown) =>
        isTernError(e) && e.code === 'function_crashed' && /out of memory \(limit 64 MiB\)/.test(e.message),
    );
  });
});
