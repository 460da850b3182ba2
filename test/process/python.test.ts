/** The python handler contract through the Runtime API, against real sandboxed processes. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isTernError } from '../../src/core/errors.js';
import type { Invocation } from '../../src/core/invocation.js';
import type { Result } from '../../src/core/result.js';
import type { DeployedFunction } from '../../src/registry/registry.js';
import { createPythonRuntime } from '../../src/runtimes/process/index.js';
import type { HostServices, Instance, Runtime } from '../../src/runtimes/runtime.js';
import { invoke, json, testBed, type TestBed } from './helpers.js';

describe('python runtime: handler contract', () => {
  let bed: TestBed;
  let rt: Runtime;
  let fn: DeployedFunction;
  const chained: { parent: string; fn: string; body: string; path: string | undefined }[] = [];
  const host: HostServices = {
    async invoke(parent: Invocation, name: string, body: Buffer, opts?: { path?: string }): Promise<Result> {
      chained.push({ parent: parent.id, fn: name, body: body.toString(), path: opts?.path });
      return {
        status: 200,
        headers: { 'content-type': 'text/plain' },
        body: Buffer.from(`pong from ${name}`),
        report: {
          node: 'n',
          function: name,
          instance: '',
          cold: false,
          queueMs: 0,
          initMs: 0,
          runMs: 0,
          totalMs: 0,
          offloaded: false,
          hops: [],
        },
      };
    },
  };

  before(async () => {
    bed = await testBed(host);
    rt = createPythonRuntime(bed.ctx);
    fn = await bed.fn('py-contract');
    await rt.prepare(fn);
  });

  after(async () => {
    await rt.close();
    await bed.cleanup();
  });

  const started = new Map<string, Instance>();
  async function instanceFor(handler: string): Promise<Instance> {
    let inst = started.get(handler);
    if (!inst) {
      inst = await bed.start(rt, { ...fn, spec: { ...fn.spec, handler } });
      started.set(handler, inst);
    }
    return inst;
  }

  test('probe finds bwrap, cgroups and python', async () => {
    const probe = await rt.probe();
    assert.equal(probe.available, true, probe.detail);
    assert.match(probe.detail ?? '', /cgroup v[12].*Python 3/);
  });

  test('a returned str is a 200 text body', async () => {
    const r = await invoke(await instanceFor('main:text'));
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.body.toString(), 'Hello from python!\n');
  });

  test('returned bytes are an octet-stream body', async () => {
    const r = await invoke(await instanceFor('main:raw'));
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    assert.deepEqual([...r.body], [0, 1, 255]);
  });

  test('a dict is sent as JSON; the request carries method, path, query, params, headers, body and env', async () => {
    const r = await invoke(await instanceFor('main:as_json'), {
      method: 'put',
      path: '/items/7',
      query: 'a=1&b=two%20words&a=3',
      headers: { 'X-Thing': 'yes', 'content-type': 'text/plain' },
      body: Buffer.from('héllo'),
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(json(r), {
      method: 'PUT',
      path: '/items/7',
      query: 'a=1&b=two%20words&a=3',
      params: { a: '1', b: 'two words' },
      headers: { 'x-thing': 'yes', 'content-type': 'text/plain' },
      body: 'héllo',
      greeting: 'hi there',
    });
  });

  test('req.json() parses the body', async () => {
    const r = await invoke(await instanceFor('main:parsed_body'), { method: 'POST', body: Buffer.from('{"x":[1,2]}') });
    assert.deepEqual(json(r), { got: { x: [1, 2] } });
  });

  test('a Response sets status, headers and body', async () => {
    const r = await invoke(await instanceFor('main:response_object'));
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-reason'], 'missing');
    assert.equal(r.headers['content-type'], 'text/x-custom');
    assert.equal(r.body.toString(), 'nope\n');
  });

  test('a {status, headers, body} dict and a (body, status) tuple are responses too', async () => {
    const d = await invoke(await instanceFor('main:response_dict'));
    assert.equal(d.status, 201);
    assert.equal(d.headers.location, '/made/1');
    assert.deepEqual(json(d), { id: 1 });
    const t = await invoke(await instanceFor('main:response_tuple'));
    assert.equal(t.status, 418);
    assert.equal(t.body.toString(), 'teapot');
  });

  test('async handlers (coroutines) are awaited', async () => {
    const r = await invoke(await instanceFor('main:coroutine'));
    assert.equal(r.body.toString(), 'async ok');
  });

  test('a two-argument handler gets a context', async () => {
    const inst = await instanceFor('main:with_ctx');
    const r = await invoke(inst, { id: 'call-ctx-1' });
    assert.deepEqual(json(r), { call: 'call-ctx-1', function: 'py-contract', instance: inst.id });
  });

  test('an exception is a function_error with its message; the instance keeps serving', async () => {
    const inst = await instanceFor('main:failing');
    await assert.rejects(invoke(inst, { path: '/here' }), (e: unknown) => {
      assert.ok(isTernError(e));
      assert.equal(e.code, 'function_error');
      assert.equal(e.status, 502);
      assert.equal(e.message, 'ValueError: boom at /here');
      return true;
    });
    assert.equal((await invoke(inst, { query: 'ok' })).body.toString(), 'fine');
    assert.ok(
      bed.logs.some((l) => l.instance === inst.id && l.stream === 'stderr' && /Traceback/.test(l.line)),
      'the traceback is logged',
    );
  });

  test('an invalid status is a function_error', async () => {
    await assert.rejects(
      invoke(await instanceFor('main:bad_status')),
      (e: unknown) => isTernError(e) && e.code === 'function_error' && /status/.test(e.message),
    );
  });

  test('print() output and child process output are logged with the call id', async () => {
    const inst = await instanceFor('main:logs');
    const r = await invoke(inst, { id: 'call-logs-1' });
    assert.equal(r.body.toString(), 'logged');
    const mine = bed.logs.filter((l) => l.instance === inst.id && l.callId === 'call-logs-1');
    assert.deepEqual(
      mine.filter((l) => l.stream === 'stdout' && l.line !== 'raw from a child process').map((l) => l.line),
      ['printed line 1', 'partial line'],
    );
    assert.deepEqual(
      mine.filter((l) => l.stream === 'stderr').map((l) => l.line),
      ['printed line 2'],
    );
    // The child writes to the process's own stdout pipe: attributed to the one call in flight.
    const raw = await bed.waitForLog((l) => l.instance === inst.id && l.line === 'raw from a child process');
    assert.equal(raw.stream, 'stdout');
    assert.ok(raw.callId === 'call-logs-1' || raw.callId === undefined);
    // Load-time output belongs to the instance, or to the zygote it was forked from (zygote.ts).
    assert.ok(
      bed.logs.some((l) => l.line === 'module loaded' && l.callId === undefined),
      'load-time output is logged',
    );
  });

  test('host calls: ctx.invoke reaches the node; unknown operations fail cleanly', async () => {
    const hostFn = await bed.fn('py-host');
    await rt.prepare(hostFn);
    const inst = await bed.start(rt, hostFn);
    const r = await invoke(inst, { id: 'parent-1' });
    assert.deepEqual(json(r), {
      chained_status: 200,
      chained_body: 'pong from other',
      unknown: 'unknown host operation "no-such-operation"',
    });
    assert.deepEqual(chained, [{ parent: 'parent-1', fn: 'other', body: 'ping', path: '/chained' }]);
  });
});
