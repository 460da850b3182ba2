/**
 * The Faasm profile against the requests Faasm's own client sends, replies checked field by field.
 * Requests: faasm/faasm faasmcli (at 433365da4^, 2020) faasmcli/tasks/upload.py (curl -X PUT
 * http://host:8002/f/<user>/<func> -T function.wasm; /p/ for python) and faasmcli/util/call.py
 * (invoke_impl's message {user, function, async, input_data[, python, py_user, py_func]} and
 * status_call_impl's {user, function, status: true, id}); replies: src/upload/UploadServer.cpp
 * ("Function upload complete\n", "PONG") and faasm/faabric src/endpoint/FaabricEndpointHandler.cpp
 * (output + "\n", the async id, "RUNNING" / "SUCCESS: " / "FAILED: "). The registry is real; the
 * scheduler is an in-test fake of Tern's interface.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { faasmProfile } from '../../src/compat/faasm/index.js';
import { TernError } from '../../src/core/errors.js';
import { errorResult } from '../../src/core/result.js';
import type { CallRecord, Scheduler } from '../../src/scheduler/types.js';
import { ensureBuilt, FIXTURES, result, startHarness, type Harness } from '../fixtures/compat/openfaas/harness.js';

const FA = join(FIXTURES, 'faasm');
const ECHO_WASM = join(FA, 'build/echo.wasm');
let h: Harness;
let wasm: Buffer;

before(async () => {
  ensureBuilt(join(FA, 'build.sh'), ECHO_WASM);
  wasm = await readFile(ECHO_WASM);
  h = await startHarness(faasmProfile);
});
after(async () => h.close());

beforeEach(async () => {
  for (const fn of h.registry.list()) await h.registry.remove(fn.spec.name);
  h.scheduler.invoked.length = 0;
  h.scheduler.submitted.length = 0;
  h.scheduler.call = () => undefined;
  h.scheduler.respond = (inv) =>
    result(inv, 200, { 'content-type': 'text/plain' }, inv.body.length ? inv.body : 'Nothing to echo');
});

/** curl -X PUT URL -T FILE: the file as the body, no content type. */
const putFile = (url: string, body: Buffer) => h.app.inject({ method: 'PUT', url, payload: body });
/** requests.post(url, json=msg) */
/** As faasmcli posts a message; a bigint is written as its bare digits, as Python writes a big int. */
const postJson = (msg: unknown, url = '/') =>
  h.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(msg, (_k, v: unknown) => (typeof v === 'bigint' ? `@big:${v}` : v)).replace(
      /"@big:([0-9]+)"/g,
      '$1',
    ),
  });

describe('the upload server', () => {
  test('GET /ping is PONG', async () => {
    const res = await h.app.inject({ method: 'GET', url: '/ping' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, 'PONG');
  });

  test('PUT /f/<user>/<function> stores a wasm function "<user>-<function>"; GET gives the module back', async () => {
    const res = await putFile('/f/demo/echo', wasm);
    assert.equal(res.statusCode, 200, res.body);
    assert.match(res.headers['content-type'] as string, /^text\/plain/);
    assert.equal(res.body, 'Function upload complete\n');
    const fn = h.registry.get('demo-echo')!;
    assert.equal(fn.spec.runtime, 'wasm');
    assert.equal(fn.spec.handler, 'function.wasm');
    assert.equal(fn.spec.description, 'Faasm function demo/echo (wasm)');
    assert.deepEqual(await readFile(join(fn.dir, 'function.wasm')), wasm);
    const back = await h.app.inject({ method: 'GET', url: '/f/demo/echo' });
    assert.equal(back.statusCode, 200);
    assert.deepEqual(back.rawPayload, wasm);
  });

  test('PUT /p/<user>/<function> stores a python function with a pyfaasm.core of get_input/set_output', async () => {
    const source = await readFile(join(FA, 'echo.py'));
    const res = await putFile('/p/python/echo', source);
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.body, 'Python function upload complete\n');
    const fn = h.registry.get('python-echo')!;
    assert.equal(fn.spec.runtime, 'python');
    assert.equal(fn.spec.handler, '_faasm_entry:handle');
    assert.deepEqual(await readFile(join(fn.dir, 'function.py')), source);
    assert.match(
      await readFile(join(fn.dir, 'pyfaasm/core.py'), 'utf8'),
      /def get_input\(\):[\s\S]*def set_output\(data\):/,
    );
    assert.match(await readFile(join(fn.dir, '_faasm_entry.py'), 'utf8'), /_function\.faasm_main\(\)/);
  });

  test('names: "_" reads as "-"; two Faasm pairs may not share one Tern name', async () => {
    assert.equal((await putFile('/f/Demo/hello_world', wasm)).statusCode, 200);
    assert.ok(h.registry.get('demo-hello-world'));
    const clash = await putFile('/f/demo/hello-world', wasm);
    assert.equal(clash.statusCode, 409);
    assert.match(clash.body, /taken by the Faasm function Demo\/hello_world/);
    assert.equal((await putFile('/f/Demo/hello_world', wasm)).statusCode, 200, 'the same pair may upload again');
  });

  test('refusals: not wasm, empty python, names Tern cannot hold', async () => {
    const notWasm = await putFile('/f/demo/echo', Buffer.from('#!/bin/sh\necho hi\n'));
    assert.equal(notWasm.statusCode, 400);
    assert.match(notWasm.body, /not a WebAssembly module/);
    assert.equal((await putFile('/p/python/echo', Buffer.alloc(0))).statusCode, 400);
    const longName = await putFile(`/f/demo/${'x'.repeat(70)}`, wasm);
    assert.equal(longName.statusCode, 400);
    assert.match(longName.body, /Tern names are 1-63 characters/);
    assert.equal(h.registry.list().length, 0);
  });

  test('state and shared files are 501; an unknown path is 400 as the upload server answers it', async () => {
    assert.equal((await putFile('/s/demo/key', Buffer.from('v'))).statusCode, 501);
    assert.equal((await h.app.inject({ method: 'GET', url: '/s/demo/key' })).statusCode, 501);
    const unknown = await h.app.inject({ method: 'GET', url: '/x/y' });
    assert.equal(unknown.statusCode, 400);
    assert.equal(unknown.body, 'Unrecognised GET request to /x/y\n');
  });
});

describe('invocations: POST a message', () => {
  beforeEach(async () => {
    await putFile('/f/demo/echo', wasm);
    await putFile('/p/python/echo', await readFile(join(FA, 'echo.py')));
  });

  test('{user, function, async: false, input_data}: input_data is the body; the reply is the output and a newline', async () => {
    const res = await postJson({ user: 'demo', function: 'echo', async: false, input_data: 'hello faasm' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/plain/);
    assert.equal(res.body, 'hello faasm\n');
    const inv = h.scheduler.invoked[0]!;
    assert.equal(inv.function, 'demo-echo');
    assert.equal(inv.method, 'POST');
    assert.equal(inv.trigger, 'compat');
    assert.equal(inv.body.toString(), 'hello faasm');
    // The old helper posted to /f/<user>/<func>: the endpoint reads the message, not the path.
    assert.equal((await postJson({ user: 'demo', function: 'echo' }, '/f/demo/echo')).body, 'Nothing to echo\n');
  });

  test('python: {user: "python", function: "py_func", python: true, py_user, py_func} runs py_user/py_func', async () => {
    const res = await postJson({
      user: 'python',
      function: 'py_func',
      async: false,
      py_user: 'python',
      py_func: 'echo',
      python: true,
      input_data: 'x',
    });
    assert.equal(res.statusCode, 200);
    assert.equal(h.scheduler.invoked[0]!.function, 'python-echo');
  });

  test('async: the reply is the call id, an integer; status requests answer RUNNING, SUCCESS: <output>, FAILED: <output>', async () => {
    const res = await postJson({ user: 'demo', function: 'echo', async: true, input_data: 'later' });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /^[0-9]+$/);
    // 128 random bits: a Faasm client reads it as a (big) integer.
    const id = BigInt(res.body);
    assert.ok(id > 2n ** 64n || res.body.length >= 30);
    assert.equal(h.scheduler.submitted[0]!.id, res.body);
    assert.equal(h.scheduler.submitted[0]!.body.toString(), 'later');
    const second = await postJson({ user: 'demo', function: 'echo', async: true });
    assert.notEqual(second.body, res.body, 'ids differ');

    let record: CallRecord = {
      id: res.body,
      function: 'demo-echo',
      state: 'queued',
      createdAt: new Date().toISOString(),
    };
    const scheduler: Scheduler = h.scheduler;
    scheduler.call = (callId) => (callId === res.body ? record : undefined);
    const status = () => postJson({ user: 'demo', function: 'echo', status: true, id });
    assert.equal((await status()).body, 'RUNNING');
    record = {
      ...record,
      state: 'done',
      result: { status: 200, headers: {}, body: Buffer.from('later').toString('base64') },
    };
    assert.equal((await status()).body, 'SUCCESS: later');
    record = {
      ...record,
      state: 'failed',
      result: { status: 502, headers: {}, body: '' },
      error: { code: 'function_crashed', message: 'exit 1' },
    };
    assert.equal((await status()).body, 'FAILED: exit 1');
    const unknown = await postJson({ user: 'demo', function: 'echo', status: true, id: 42 });
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.body, /^FAILED: /);
  });

  test('errors: empty request, empty user or function, unknown function, a failed call', async () => {
    const empty = await h.app.inject({ method: 'POST', url: '/' });
    assert.equal(empty.statusCode, 400);
    assert.equal(empty.body, 'Empty request\n');
    assert.equal((await postJson({ function: 'echo' })).body, 'Empty user\n');
    assert.equal((await postJson({ user: 'demo' })).body, 'Empty function\n');
    const unknown = await postJson({ user: 'demo', function: 'nope' });
    assert.equal(unknown.statusCode, 404);
    assert.match(unknown.body, /no function demo\/nope/);
    h.scheduler.respond = (inv) =>
      errorResult(
        new TernError('timeout', 'the function ran past its timeout of 10000 ms'),
        result(inv, 0, {}, '').report,
      );
    const timeout = await postJson({ user: 'demo', function: 'echo' });
    assert.equal(timeout.statusCode, 504);
    assert.equal(timeout.body, 'the function ran past its timeout of 10000 ms\n');
    assert.equal((await postJson({ user: 'demo', function: 'echo', input_data: 7 })).statusCode, 400);
  });

  test('flush is a no-op answered 200', async () => {
    const res = await postJson({ user: 'demo', function: 'echo', flush: true });
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, '');
    assert.equal(h.scheduler.invoked.length, 0);
  });
});
