/** Binary functions: any executable, CGI style, one run per call inside the instance's sandbox. */
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isTernError } from '../../src/core/errors.js';
import { createBinaryRuntime } from '../../src/runtimes/process/index.js';
import type { Runtime } from '../../src/runtimes/runtime.js';
import { EXAMPLES, invoke, json, testBed, type TestBed } from './helpers.js';
import { SANDBOX_UID } from '../../src/runtimes/process/uids.js';

describe('binary runtime (CGI)', () => {
  let bed: TestBed;
  let rt: Runtime;

  before(async () => {
    bed = await testBed();
    rt = createBinaryRuntime(bed.ctx);
  });

  after(async () => {
    await rt.close();
    await bed.cleanup();
  });

  test('probe: the helper interpreter runs in a sandbox', async () => {
    const probe = await rt.probe();
    assert.equal(probe.available, true, probe.detail);
  });

  test('the echo-binary example echoes method, path, query and body', async () => {
    const fn = await bed.fn(join(EXAMPLES, 'echo-binary'));
    await rt.prepare(fn);
    const inst = await bed.start(rt, fn);
    for (let i = 0; i < 3; i++) {
      const r = await invoke(inst, {
        method: 'POST',
        path: '/some/where',
        query: 'a=1&b=2',
        body: Buffer.from(`hello ${i}`),
      });
      assert.equal(r.status, 200);
      assert.equal(r.headers['content-type'], 'text/plain');
      assert.equal(r.headers['x-echo-method'], 'POST');
      assert.equal(r.body.toString(), `method: POST\npath: /some/where\nquery: a=1&b=2\nbody: hello ${i}\n`);
    }
  });

  test('Status and other CGI headers; HTTP_* variables; no HTTP_PROXY; stderr to the logs; executable bit restored', async () => {
    const fn = await bed.fn('binary-cgi');
    assert.equal((await stat(join(fn.dir, 'status.sh'))).mode & 0o111, 0, 'the fixture ships without x bits');
    await rt.prepare(fn);
    assert.notEqual((await stat(join(fn.dir, 'status.sh'))).mode & 0o111, 0);
    const inst = await bed.start(rt, fn);
    const r = await invoke(inst, {
      id: 'cgi-call-1',
      method: 'POST',
      path: '/x',
      headers: { 'x-test': 'custom value', proxy: 'http://evil.example', 'content-type': 'application/json' },
      body: Buffer.from('{"a":1}'),
    });
    assert.equal(r.status, 404);
    assert.equal(r.headers['x-custom'], 'custom value');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.deepEqual(json(r), { proxy: '', type: 'application/json', length: '7', uid: SANDBOX_UID });
    const logged = await bed.waitForLog((l) => l.instance === inst.id && l.line === 'to the logs from /x');
    assert.equal(logged.stream, 'stderr');
    assert.equal(logged.callId, 'cgi-call-1');
  });

  test('output without a header block is all body, text/plain', async () => {
    const fn = await bed.fn('binary-cgi', { handler: 'plain.sh' });
    await rt.prepare(fn);
    const r = await invoke(await bed.start(rt, fn));
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8', 'one CGI rule for wasm and binary');
    assert.equal(r.body.toString(), 'just text\n');
  });

  test('a non-zero exit is a function_error; the instance keeps serving', async () => {
    const fn = await bed.fn('binary-cgi', { handler: 'fail.sh' });
    await rt.prepare(fn);
    const inst = await bed.start(rt, fn);
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        invoke(inst),
        (e: unknown) => isTernError(e) && e.code === 'function_error' && e.message === 'fail.sh exited with code 3',
      );
    }
  });

  test('concurrent-requests > 1 runs the program once per call, in parallel', async () => {
    const fn = await bed.fn(join(EXAMPLES, 'echo-binary'), { concurrentRequests: 4 });
    await rt.prepare(fn);
    const inst = await bed.start(rt, fn);
    const replies = await Promise.all(
      [0, 1, 2, 3].map((i) => invoke(inst, { method: 'PUT', body: Buffer.from(`n${i}`) })),
    );
    replies.forEach((r, i) => assert.match(r.body.toString(), new RegExp(`body: n${i}\\n$`)));
  });

  test('prepare refuses a handler that is missing or outside the folder', async () => {
    for (const handler of ['missing.sh', '../escape.sh', '/bin/sh']) {
      const fn = await bed.fn('binary-cgi', { handler });
      await assert.rejects(rt.prepare(fn), (e: unknown) => isTernError(e) && e.code === 'bad_spec', handler);
    }
  });
});
