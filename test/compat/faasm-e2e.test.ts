/**
 * Faasm's client requests (faasm/faasm faasmcli at 433365da4^: tasks/upload.py's
 * `curl -X PUT http://host:8002/f/<user>/<func> -T function.wasm`, util/call.py's invoke and
 * status messages) replayed against a real Tern node with the Faasm profile, running a real wasm
 * module (Faasm's demo/echo as a WASI command) and Faasm's own python functions.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureBuilt, FIXTURES } from '../fixtures/compat/openfaas/harness.js';
import { startCompatNode, type CompatNode } from '../fixtures/compat/openfaas/node.js';

const FA = join(FIXTURES, 'faasm');
let node: CompatNode;
let faasm: string;

const put = async (path: string, file: string) =>
  fetch(`${faasm}${path}`, { method: 'PUT', body: await readFile(file) });
/** requests.post(url, json=msg) as faasmcli's do_post sends it (Python writes a big int as its digits). */
const post = (msg: Record<string, unknown>) =>
  fetch(`${faasm}/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(msg, (_key, value: unknown) => (typeof value === 'bigint' ? `@big:${value}` : value)).replace(
      /"@big:([0-9]+)"/g,
      '$1',
    ),
  });

before(async () => {
  ensureBuilt(join(FA, 'build.sh'), join(FA, 'build/native.wasm'));
  node = await startCompatNode(['faasm']);
  faasm = node.urls.faasm!;
});
after(async () => node?.stop());

describe('wasm functions', () => {
  before(async () => {
    const res = await put('/f/demo/echo', join(FA, 'build/echo.wasm'));
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Function upload complete\n');
  });

  test('faasmcli invoke demo echo --input ...: the output and a newline', async () => {
    const res = await post({ user: 'demo', function: 'echo', async: false, input_data: 'hello faasm' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello faasm\n');
    const empty = await post({ user: 'demo', function: 'echo', async: false });
    assert.equal(await empty.text(), 'Nothing to echo\n');
  });

  test('faasmcli invoke --poll: an integer id, then status requests until SUCCESS', async () => {
    const res = await post({ user: 'demo', function: 'echo', async: true, input_data: 'later' });
    assert.equal(res.status, 200);
    const id = await res.text();
    assert.match(id, /^[0-9]{30,40}$/, 'an integer of 128 random bits');
    let status = '';
    // Bounded polling, as faasmcli polls (it waits poll_interval_ms between requests).
    for (let i = 0; i < 300 && !status.startsWith('SUCCESS'); i++) {
      status = await (await post({ user: 'demo', function: 'echo', status: true, id: BigInt(id) })).text();
      assert.match(status, /^(RUNNING|SUCCESS: )/);
      if (!status.startsWith('SUCCESS')) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(status, 'SUCCESS: later');
  });

  test('GET /f/demo/echo gives the module back', async () => {
    const res = await fetch(`${faasm}/f/demo/echo`);
    assert.equal(res.status, 200);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), await readFile(join(FA, 'build/echo.wasm')));
  });

  test("a module built for Faasm's host interface is refused at upload, saying why", async () => {
    const res = await put('/f/demo/native', join(FA, 'build/native.wasm'));
    assert.equal(res.status, 400);
    assert.match(await res.text(), /__faasm_read_input|import/);
    const call = await post({ user: 'demo', function: 'native' });
    assert.equal(call.status, 404);
  });
});

describe('python functions', () => {
  test("faasmcli upload --py and invoke --py: Faasm's echo.py and hello.py run unchanged", async () => {
    for (const fn of ['echo', 'hello']) {
      const res = await put(`/p/python/${fn}`, join(FA, `${fn}.py`));
      assert.equal(res.status, 200, await res.clone().text());
      assert.equal(await res.text(), 'Python function upload complete\n');
    }
    const echo = await post({
      user: 'python',
      function: 'py_func',
      async: false,
      py_user: 'python',
      py_func: 'echo',
      python: true,
      input_data: 'hi there',
    });
    assert.equal(echo.status, 200);
    assert.equal(await echo.text(), 'hi there\n');
    const hello = await post({
      user: 'python',
      function: 'py_func',
      async: false,
      py_user: 'python',
      py_func: 'hello',
      python: true,
    });
    assert.match(await hello.text(), /^Hello! Running Python version 3\.\d+/);
  });
});
