/**
 * Chaining on a real node: the fan-out example sums its children's answers and its report lists
 * them; a recursion past chain-depth gets a clear 400; a self-call that needs a second instance of
 * a function already at max-instances ends with the queue wait instead of hanging.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTern, type TernProcess } from '../helpers/node.js';
import { buildModules, deploy, EXAMPLES, FIXTURES, invoke } from './helpers.js';

describe('chaining', () => {
  let node: TernProcess;
  let scratch: string;
  before(async () => {
    buildModules();
    scratch = await mkdtemp(join(tmpdir(), 'tern-chain-'));
    const config = join(scratch, 'tern.toml');
    await writeFile(config, '[queue]\nwait = "2s"\n');
    // The same recursion fixture as a function that may have only one instance.
    const single = join(scratch, 'recurse-one');
    await cp(join(FIXTURES, 'recurse'), single, { recursive: true });
    await writeFile(
      join(single, 'function.toml'),
      'name = "recurse-one"\nruntime = "wasm"\nhandler = "recurse.wasm"\nmemory = 16\ntimeout = "20s"\nmax-instances = 1\n',
    );
    node = await startTern({ args: ['--config', config] });
    await deploy(node, join(EXAMPLES, 'square'), 'square');
    await deploy(node, join(EXAMPLES, 'fanout'), 'fanout');
    await deploy(node, join(FIXTURES, 'recurse'), 'recurse');
    await deploy(node, single, 'recurse-one');
  });
  after(async () => {
    await node?.stop({ cleanup: true });
    await rm(scratch, { recursive: true, force: true });
  });

  test('fan-out: N chained calls started together, summed; the report lists every child', async () => {
    const n = 20;
    const r = await invoke(node, `fanout?n=${n}`);
    assert.equal(r.status, 200, r.body);
    const expected = Array.from({ length: n }, (_, i) => i * i).reduce((s, x) => s + x, 0);
    assert.deepEqual(JSON.parse(r.body), { n, sum: expected });
    const children = r.report.children ?? [];
    assert.equal(children.length, n);
    for (const c of children) {
      assert.equal(c.function, 'square');
      assert.equal(c.status, 200);
      assert.equal(typeof c.id, 'string');
      assert.ok(c.ms >= 0);
    }
    assert.equal(new Set(children.map((c) => c.id)).size, n);
  });

  test('fan-out one call after another (tern_call) gives the same sum', async () => {
    const r = await invoke(node, 'fanout?n=7&sync=1');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { n: 7, sum: 91 });
    assert.equal(r.report.children?.length, 7);
  });

  test('a fan-out of zero children has no children in its report', async () => {
    const r = await invoke(node, 'fanout?n=0');
    assert.deepEqual(JSON.parse(r.body), { n: 0, sum: 0 });
    assert.equal(r.report.children, undefined);
  });

  test('recursion past the depth limit gets a clear error, passed back up the chain', async () => {
    const r = await invoke(node, 'recurse');
    assert.equal(r.status, 400, r.body);
    const body = JSON.parse(r.body) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'bad_request');
    assert.match(body.error.message, /^chain depth limit 8 reached: recurse \(depth 8\) cannot call recurse/);
    assert.deepEqual(
      r.report.children?.map((c) => [c.function, c.status]),
      [['recurse', 400]],
    );
  });

  test('a self-call at max-instances waits in the queue and fails when the queue wait ends (no hang)', async () => {
    const r = await invoke(node, 'recurse-one');
    assert.equal(r.status, 503, r.body);
    const body = JSON.parse(r.body) as { error: { code: string } };
    assert.equal(body.error.code, 'queue_timeout');
    assert.deepEqual(
      r.report.children?.map((c) => [c.function, c.status]),
      [['recurse-one', 503]],
    );
  });
});
