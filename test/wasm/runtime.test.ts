/**
 * The wasm runtime through its Runtime API with real compiled modules: the examples (hello, echo,
 * sieve), the CGI response rules, logs, and the WASI calls a C program makes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TernError } from '../../src/core/errors.js';
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
import type { Instance } from '../../src/runtimes/runtime.js';

function json(body: Buffer): Record<string, unknown> {
  return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
}

describe('wasm runtime: examples and CGI', () => {
  let runtime: Runtime;
  before(() => {
    buildModules();
    runtime = newRuntime();
  });
  after(async () => {
    await runtime.close();
  });

  test('probe says available', async () => {
    const probe = await runtime.probe();
    assert.equal(probe.available, true, probe.detail);
  });

  test('hello answers with its CGI response, again and again', async () => {
    const fn = deployed(join(EXAMPLES, 'hello'), { name: 'hello', handler: 'hello.wasm' });
    await runtime.prepare(fn);
    const { instance } = await startInstance(runtime, fn);
    for (let i = 0; i < 5; i++) {
      const res = await instance.call(invocation('hello'), never());
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], 'text/plain');
      assert.equal(res.body.toString(), 'Hello from wasm!\n');
    }
    await instance.stop();
  });

  test('echo sees method, path, query, body, headers and every CGI variable', async () => {
    const fn = deployed(join(EXAMPLES, 'echo'), {
      name: 'echo',
      handler: 'echo.wasm',
      env: { GREETING: 'hi', REQUEST_METHOD: 'spoofed' },
    });
    await runtime.prepare(fn);
    const { instance } = await startInstance(runtime, fn);
    const body = Buffer.from('{"x": "a \\"quoted\\" body"}\n');
    const inv = invocation('echo', {
      method: 'post',
      path: '/some/where',
      query: 'a=1&b=two',
      headers: {
        'X-Test': 'yes it is',
        'Content-Type': 'application/json',
        'content-length': String(body.length),
        'x-multi-word-name': 'v',
      },
      body,
    });
    const res = await instance.call(inv, never());
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    const out = json(res.body);
    assert.equal(out.method, 'POST');
    assert.equal(out.path, '/some/where');
    assert.equal(out.query, 'a=1&b=two');
    assert.equal(out.xTest, 'yes it is');
    assert.equal(out.body, body.toString());
    const env = out.env as Record<string, string>;
    assert.equal(env.REQUEST_METHOD, 'POST', 'CGI variables win over function.toml env');
    assert.equal(env.PATH_INFO, '/some/where');
    assert.equal(env.QUERY_STRING, 'a=1&b=two');
    assert.equal(env.CONTENT_TYPE, 'application/json');
    assert.equal(env.CONTENT_LENGTH, String(body.length));
    assert.equal(env.SERVER_PROTOCOL, 'HTTP/1.1');
    assert.equal(env.GATEWAY_INTERFACE, 'CGI/1.1');
    assert.equal(env.SCRIPT_NAME, '/fn/echo');
    assert.equal(env.REQUEST_URI, '/fn/echo/some/where?a=1&b=two');
    assert.equal(env.TERN_CALL_ID, inv.id);
    assert.equal(env.TERN_FUNCTION, 'echo');
    assert.equal(env.TERN_TRIGGER, 'http');
    assert.equal(env.HTTP_X_TEST, 'yes it is');
    assert.equal(env.HTTP_X_MULTI_WORD_NAME, 'v');
    assert.equal(env.GREETING, 'hi');
    assert.equal(env.HTTP_CONTENT_TYPE, undefined, 'content-type is CONTENT_TYPE only');
    assert.equal(env.HTTP_CONTENT_LENGTH, undefined);
  });

  test('echo of an empty GET and of a binary body', async () => {
    const fn = deployed(join(EXAMPLES, 'echo'), { name: 'echo', handler: 'echo.wasm' });
    const { instance } = await startInstance(runtime, fn);
    const empty = json((await instance.call(invocation('echo'), never())).body);
    assert.equal(empty.method, 'GET');
    assert.equal(empty.path, '/');
    assert.equal(empty.query, '');
    assert.equal(empty.body, '');
    assert.equal(empty.xTest, null);
    const env = empty.env as Record<string, string>;
    assert.equal(env.CONTENT_LENGTH, '0');
    assert.equal(env.CONTENT_TYPE, '');

    const big = Buffer.alloc(300_000, 'ab');
    const res = await instance.call(invocation('echo', { method: 'PUT', body: big }), never());
    assert.equal(json(res.body).body, big.toString());
  });

  test('sieve counts primes (body, query, default) and refuses bad N', async () => {
    const fn = deployed(join(EXAMPLES, 'sieve'), { name: 'sieve', handler: 'sieve.wasm', memory: 64 });
    await runtime.prepare(fn);
    const { instance } = await startInstance(runtime, fn);
    const call = async (init: Parameters<typeof invocation>[1]) => instance.call(invocation('sieve', init), never());
    assert.deepEqual(json((await call({ query: 'n=10' })).body), { n: 10, count: 4, last: 7 });
    assert.deepEqual(json((await call({ query: 'n=100' })).body), { n: 100, count: 25, last: 97 });
    assert.deepEqual(json((await call({ method: 'POST', body: Buffer.from('100\n') })).body), {
      n: 100,
      count: 25,
      last: 97,
    });
    assert.deepEqual(json((await call({})).body), { n: 10000, count: 1229, last: 9973 });
    assert.deepEqual(json((await call({ query: 'n=1' })).body), { n: 1, count: 0, last: 0 });
    assert.deepEqual(json((await call({ query: 'n=10000000' })).body), { n: 10000000, count: 664579, last: 9999991 });
    const tooBig = await call({ query: 'n=10000001' });
    assert.equal(tooBig.status, 400);
    assert.match(String(json(tooBig.body).error), /at most/);
    const notNumber = await call({ method: 'POST', body: Buffer.from('twelve') });
    assert.equal(notNumber.status, 400);
  });

  describe('CGI response rules', () => {
    let call: (query: string) => ReturnType<Instance['call']>;
    let logs: Awaited<ReturnType<typeof startInstance>>['logs'];
    before(async () => {
      const fn = deployed(FIXTURE_BUILD, { name: 'cgi', handler: 'cgi.wasm' });
      await runtime.prepare(fn);
      const started = await startInstance(runtime, fn);
      logs = started.logs;
      call = (query) => started.instance.call(invocation('cgi', { query }), never());
    });

    test('Status and Content-Type are honoured, other headers kept', async () => {
      const res = await call('status');
      assert.equal(res.status, 404);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(res.headers['x-custom'], 'yes');
      assert.equal(res.headers.status, undefined);
      assert.deepEqual(json(res.body), { missing: true });
    });

    test('CRLF header blocks work too', async () => {
      const res = await call('crlf');
      assert.equal(res.status, 201);
      assert.equal(res.headers['content-type'], 'text/csv');
      assert.equal(res.body.toString(), 'a,b\r\n');
    });

    test('Location alone means 302', async () => {
      const res = await call('redirect');
      assert.equal(res.status, 302);
      assert.equal(res.headers.location, '/elsewhere');
    });

    test('no header block: all of stdout is a 200 text/plain body', async () => {
      const res = await call('plain');
      assert.equal(res.status, 200);
      assert.match(String(res.headers['content-type'] ?? ''), /^text\/plain/);
      assert.equal(res.body.toString(), 'no headers here: just text\n');
    });

    test('a bad Status header fails the call', async () => {
      await assert.rejects(
        call('bad-status'),
        (e: unknown) => e instanceof TernError && e.code === 'function_error' && /Status/.test(e.message),
      );
    });

    test('framing and X-Tern-* headers are dropped, and the drop is logged', async () => {
      const res = await call('framing');
      assert.equal(res.headers['content-length'], undefined);
      assert.equal(res.headers['x-tern-report'], undefined);
      assert.equal(res.headers['x-kept'], '1');
      assert.equal(res.body.toString(), 'ok');
      assert.ok(logs.some((l) => /dropped: content-length/.test(l.line)));
    });

    test('stderr goes to the logs, line by line, with instance and call id', async () => {
      const before = logs.length;
      const res = await call('stderr');
      assert.equal(res.body.toString(), 'fine\n');
      const lines = logs.slice(before);
      assert.deepEqual(
        lines.map((l) => [l.line, l.stream]),
        [
          ['line one', 'stderr'],
          ['line two', 'stderr'],
        ],
      );
      assert.ok(lines.every((l) => l.instance.length > 0 && typeof l.callId === 'string' && l.callId.length > 0));
    });

    test('a non-zero exit is a function_error; its stdout and stderr go to the logs', async () => {
      const before = logs.length;
      await assert.rejects(
        call('exit'),
        (e: unknown) =>
          e instanceof TernError && e.code === 'function_error' && e.status === 502 && /code 3/.test(e.message),
      );
      const lines = logs.slice(before).map((l) => `${l.stream}: ${l.line}`);
      assert.ok(lines.includes('stdout: partial output'), lines.join('\n'));
      assert.ok(lines.includes('stderr: failing on purpose'), lines.join('\n'));
    });

    test('stdin: the whole body arrives, byte for byte', async () => {
      const fn = deployed(FIXTURE_BUILD, { name: 'cgi', handler: 'cgi.wasm' });
      const { instance } = await startInstance(runtime, fn);
      const body = Buffer.alloc(1_000_003);
      for (let i = 0; i < body.length; i++) body[i] = (i * 7919) & 0xff;
      let sum = 0;
      for (const b of body) sum = (Math.imul(sum, 31) + b) >>> 0;
      const res = await instance.call(invocation('cgi', { query: 'stdin', method: 'POST', body }), never());
      assert.equal(res.body.toString(), `${body.length} ${sum}\n`);
    });

    test('clocks, sleep (poll_oneoff) and random_get work', async () => {
      const slept = (await call('sleep')).body.toString();
      const ms = Number(/slept (\d+) ms/.exec(slept)?.[1]);
      assert.ok(ms >= 19, slept);
      const a = (await call('random')).body.toString().trim().split(' ');
      const b = (await call('random')).body.toString().trim().split(' ');
      assert.match(a[0]!, /^[0-9a-f]{32}$/);
      assert.notEqual(a[0], b[0]);
      assert.ok(Math.abs(Number(a[1]) - Date.now() / 1000) < 3600, `wall clock ${a[1]}`);
    });

    test('a module that imports its memory runs the same', async () => {
      const fn = deployed(FIXTURE_BUILD, { name: 'cgi-imported', handler: 'cgi-imported.wasm' });
      await runtime.prepare(fn);
      const { instance } = await startInstance(runtime, fn);
      const res = await instance.call(invocation('cgi-imported', { query: 'status' }), never());
      assert.equal(res.status, 404);
      assert.deepEqual(json(res.body), { missing: true });
    });
  });

  test('calls run in parallel on the worker pool', async () => {
    const fn = deployed(join(EXAMPLES, 'sieve'), { name: 'sieve', handler: 'sieve.wasm' });
    const { instance } = await startInstance(runtime, fn);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => instance.call(invocation('sieve', { query: `n=${100 + i}` }), never())),
    );
    results.forEach((r, i) => assert.equal(json(r.body).n, 100 + i));
  });

  test('each call gets fresh memory: nothing leaks from one call to the next', async () => {
    // Workers reuse a zeroed memory for the next instance: statics and heap must look untouched.
    const cgi = deployed(FIXTURE_BUILD, { name: 'cgi', handler: 'cgi.wasm' });
    const started = await startInstance(runtime, cgi);
    for (let i = 0; i < 6; i++) {
      assert.equal(
        (await started.instance.call(invocation('cgi', { query: 'counter' }), never())).body.toString(),
        '0 5 0\n',
      );
    }
    const fn = deployed(join(EXAMPLES, 'echo'), { name: 'echo', handler: 'echo.wasm' });
    const { instance } = await startInstance(runtime, fn);
    await instance.call(
      invocation('echo', { headers: { 'x-secret': 'first caller' }, body: Buffer.from('secret body') }),
      never(),
    );
    const second = json((await instance.call(invocation('echo'), never())).body);
    assert.equal((second.env as Record<string, string>).HTTP_X_SECRET, undefined);
    assert.equal(second.body, '');
  });

  test('release forgets a version; start compiles it again', async () => {
    const fn = deployed(join(EXAMPLES, 'hello'), { name: 'hello', handler: 'hello.wasm' });
    await runtime.prepare(fn);
    runtime.release(fn);
    const { instance } = await startInstance(runtime, fn);
    assert.equal((await instance.call(invocation('hello'), never())).body.toString(), 'Hello from wasm!\n');
  });
});
