/** The shipped examples and the `tern new` templates run as documented. */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DeployedFunction } from '../../src/registry/registry.js';
import { createBinaryRuntime, createNodeRuntime, createPythonRuntime } from '../../src/runtimes/process/index.js';
import type { Runtime } from '../../src/runtimes/runtime.js';
import { EXAMPLES, invoke, json, REPO, testBed, type TestBed } from './helpers.js';

describe('process examples and templates', () => {
  let bed: TestBed;
  let runtimes: Record<string, Runtime>;

  before(async () => {
    bed = await testBed();
    runtimes = {
      python: createPythonRuntime(bed.ctx),
      node: createNodeRuntime(bed.ctx),
      binary: createBinaryRuntime(bed.ctx),
    };
  });

  after(async () => {
    await Promise.all(Object.values(runtimes).map((r) => r.close()));
    await bed.cleanup();
  });

  async function deploy(folder: string): Promise<{ fn: DeployedFunction; rt: Runtime }> {
    const fn = await bed.fn(folder);
    const rt = runtimes[fn.spec.runtime]!;
    await rt.prepare(fn);
    return { fn, rt };
  }

  test('hello-python and hello-node say hello', async () => {
    for (const [name, text] of [
      ['hello-python', 'Hello from python!\n'],
      ['hello-node', 'Hello from node!\n'],
    ] as const) {
      const { fn, rt } = await deploy(join(EXAMPLES, name));
      assert.equal(fn.spec.name, name);
      const r = await invoke(await bed.start(rt, fn));
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), text);
    }
  });

  for (const name of ['sieve-python', 'sieve-node']) {
    test(`${name} counts primes (?n=, body, default, bounds)`, async () => {
      const { fn, rt } = await deploy(join(EXAMPLES, name));
      const inst = await bed.start(rt, fn);
      assert.deepEqual(json(await invoke(inst, { query: 'n=100' })), { n: 100, count: 25, last: 97 });
      assert.deepEqual(json(await invoke(inst, { method: 'POST', body: Buffer.from('1000\n') })), {
        n: 1000,
        count: 168,
        last: 997,
      });
      assert.deepEqual(json(await invoke(inst)), { n: 10000, count: 1229, last: 9973 });
      assert.deepEqual(json(await invoke(inst, { query: 'n=1' })), { n: 1, count: 0, last: null });
      assert.deepEqual(json(await invoke(inst, { query: 'n=1000000' })), { n: 1000000, count: 78498, last: 999983 });
      for (const bad of ['n=10000001', 'n=abc', 'n=-5']) {
        const r = await invoke(inst, { query: bad });
        assert.equal(r.status, 400, bad);
        assert.equal(typeof (json(r) as { error: string }).error, 'string');
      }
    });
  }

  test('every template works as created by `tern new`', async () => {
    const templates = join(REPO, 'templates');
    for (const runtime of ['python', 'node', 'binary']) {
      // What `tern new` does: {{name}} becomes the function's name.
      const fn = await bed.fn(join(templates, runtime), {}, async (dir) => {
        for (const file of await readdir(dir)) {
          const path = join(dir, file);
          const text = await readFile(path, 'utf8');
          if (text.includes('{{name}}')) await writeFile(path, text.replaceAll('{{name}}', `my-${runtime}`));
        }
      });
      const rt = runtimes[runtime]!;
      await rt.prepare(fn);
      const r = await invoke(await bed.start(rt, fn), { query: 'name=Ada', path: '/hi' });
      assert.equal(r.status, 200, `${runtime}: ${r.body.toString()}`);
      assert.match(r.body.toString(), runtime === 'binary' ? /Hello from my-binary: GET \/hi/ : /Hello, Ada!/);
    }
  });
});
