/** Instance lifecycles: stop and kill leave nothing behind, crashes are explained, bad functions are refused. */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isTernError } from '../../src/core/errors.js';
import { createBinaryRuntime, createNodeRuntime, createPythonRuntime } from '../../src/runtimes/process/index.js';
import type { Instance, Runtime } from '../../src/runtimes/runtime.js';
import {
  cgroupsMentioning,
  EXAMPLES,
  invoke,
  memoryCgroupOf,
  processesMentioning,
  testBed,
  type TestBed,
} from './helpers.js';

describe('process instance lifecycle', () => {
  let bed: TestBed;
  let python: Runtime;
  let node: Runtime;
  let binary: Runtime;

  before(async () => {
    bed = await testBed();
    python = createPythonRuntime(bed.ctx);
    node = createNodeRuntime(bed.ctx);
    binary = createBinaryRuntime(bed.ctx);
  });

  after(async () => {
    await Promise.all([python.close(), node.close(), binary.close()]);
    await bed.cleanup();
  });

  async function assertGone(instanceId: string): Promise<void> {
    assert.deepEqual(await processesMentioning(instanceId), [], 'processes left');
    assert.deepEqual(await cgroupsMentioning(instanceId), [], 'cgroups left');
    assert.deepEqual(await readdir(bed.instanceScratch), [], 'scratch files left');
  }

  test('stop() leaves no process, cgroup or temp folder behind (python, node, binary)', async () => {
    const cases: [Runtime, string][] = [
      [python, join(EXAMPLES, 'hello-python')],
      [node, join(EXAMPLES, 'hello-node')],
      [binary, join(EXAMPLES, 'echo-binary')],
    ];
    for (const [rt, folder] of cases) {
      const fn = await bed.fn(folder);
      await rt.prepare(fn);
      const inst = await bed.start(rt, fn);
      assert.equal((await invoke(inst)).status, 200);
      const [pid] = await processesMentioning(inst.id);
      assert.ok(pid !== undefined);
      // A python instance is a zygote's child, in the zygote's cgroup (zygote.ts).
      if (rt === python) assert.match(String(await memoryCgroupOf(pid)), /-zygote-/);
      else assert.equal((await cgroupsMentioning(inst.id)).length > 0, true);
      await inst.stop();
      await assertGone(inst.id);
      await inst.stop();
      await inst.kill();
      await assert.rejects(invoke(inst), (e: unknown) => isTernError(e) && e.code === 'unavailable');
    }
  });

  test('kill() during a call (the pool’s timeout) ends it and every process the function started', async () => {
    const fn = await bed.fn('py-hostile', { handler: 'main:spawn_and_sleep' });
    await python.prepare(fn);
    const inst = await bed.start(python, fn);
    const abort = new AbortController();
    const outcome = assert.rejects(
      invoke(inst, {}, abort.signal),
      (e: unknown) => isTernError(e) && e.code === 'unavailable',
    );
    const exits: string[] = [];
    inst.onExit((r) => exits.push(r));
    await bed.waitForLog((l) => l.instance === inst.id && l.line === 'background child started');
    abort.abort();
    await inst.kill();
    await outcome;
    // The cgroup could only be removed once empty: the background child is gone too.
    await assertGone(inst.id);
    assert.deepEqual(exits, [], 'a kill is not reported as the instance dying on its own');
  });

  test('exits are explained: exit code, signal', async () => {
    const fn = await bed.fn('py-hostile', { handler: 'main:exit_code' });
    await python.prepare(fn);
    const inst = await bed.start(python, fn);
    const exited = new Promise<string>((resolve) => inst.onExit(resolve));
    await assert.rejects(
      invoke(inst, { query: 'code=7' }),
      (e: unknown) => isTernError(e) && e.code === 'function_crashed' && /exited with code 7/.test(e.message),
    );
    assert.match(await exited, /^exited with code 7/);
    await inst.stop();
    await assertGone(inst.id);

    const killed = await bed.start(python, { ...fn, spec: { ...fn.spec, handler: 'main:kill_self' } });
    await assert.rejects(
      invoke(killed),
      (e: unknown) =>
        isTernError(e) && e.code === 'function_crashed' && /killed by signal 9 \(SIGKILL\)/.test(e.message),
    );
    // onExit registered after the death still hears about it.
    assert.match(await new Promise<string>((resolve) => killed.onExit(resolve)), /killed by signal 9/);
  });

  test('a handler that cannot load fails the start with function_error and leaves nothing', async () => {
    const fn = await bed.fn('py-contract', { handler: 'main:no_such_function' });
    await python.prepare(fn);
    let id = '';
    await assert.rejects(
      (async () => {
        const inst: Instance = await python.start(fn, {
          id: (id = `py-contract-noload-${process.pid}`),
          log: () => undefined,
          scratchRoot: bed.instanceScratch,
        });
        return inst;
      })(),
      (e: unknown) => isTernError(e) && e.code === 'function_error' && /no function 'no_such_function'/.test(e.message),
    );
    await assertGone(id);
    const syntax = await bed.fn('node-contract', { handler: 'package.json' });
    await assert.rejects(node.prepare(syntax), (e: unknown) => isTernError(e) && e.code === 'bad_spec');
  });

  test('a memory limit too small to start is reported as out of memory', async () => {
    const fn = await bed.fn(join(EXAMPLES, 'hello-python'), { memory: 4 });
    await python.prepare(fn);
    await assert.rejects(
      python.start(fn, {
        id: `hello-python-tiny-${process.pid}`,
        log: () => undefined,
        scratchRoot: bed.instanceScratch,
      }),
      (e: unknown) =>
        isTernError(e) && e.code === 'function_crashed' && /out of memory \(limit 4 MiB\)/.test(e.message),
    );
    await assertGone(`hello-python-tiny-${process.pid}`);
  });

  test('prepare refuses bad handlers and environments', async () => {
    const refusals: [Runtime, string, Record<string, unknown>][] = [
      [python, 'py-contract', { handler: 'main:' }],
      [python, 'py-contract', { handler: 'no_module:handle' }],
      [python, 'py-contract', { handler: 'main:text', env: { 'BAD-NAME': 'x' } }],
      [python, 'py-contract', { handler: 'main:text', env: { OK: 'nul\0byte' } }],
      [node, 'node-contract', { handler: 'missing.js' }],
      [node, 'node-contract', { handler: '../node-cjs/index.js' }],
    ];
    for (const [rt, folder, overrides] of refusals) {
      const fn = await bed.fn(folder, overrides);
      await assert.rejects(
        rt.prepare(fn),
        (e: unknown) => isTernError(e) && e.code === 'bad_spec',
        JSON.stringify(overrides),
      );
    }
  });

  test('a graceful stop lets the call in flight finish (node)', async () => {
    const fn = await bed.fn('node-contract', { handler: 'index.js:slow', concurrentRequests: 2 });
    await node.prepare(fn);
    const inst = await bed.start(node, fn);
    const pending = invoke(inst);
    await bed.waitForLog((l) => l.instance === inst.id && l.line === 'slow started');
    const stopped = inst.stop();
    assert.equal((await pending).body.toString(), 'slow done');
    await stopped;
    await assertGone(inst.id);
  });

  test('response headers are checked: no CR/LF injection, framing headers dropped', async () => {
    const fn = await bed.fn('py-contract', { handler: 'main:bad_header' });
    await python.prepare(fn);
    await assert.rejects(
      invoke(await bed.start(python, fn)),
      (e: unknown) => isTernError(e) && e.code === 'function_error' && /x-bad/.test(e.message),
    );
    const framing = await invoke(
      await bed.start(python, { ...fn, spec: { ...fn.spec, handler: 'main:framing_headers' } }),
    );
    assert.equal(framing.headers['content-length'], undefined);
    assert.equal(framing.headers['x-kept'], 'yes');
    assert.equal(framing.body.toString(), 'four');
  });

  test('close() kills every instance of the runtime', async () => {
    const rt = createPythonRuntime(bed.ctx);
    const fn = await bed.fn(join(EXAMPLES, 'hello-python'));
    await rt.prepare(fn);
    const a = await bed.start(rt, fn);
    const b = await bed.start(rt, fn);
    await rt.close();
    await assertGone(a.id);
    await assertGone(b.id);
  });
});
