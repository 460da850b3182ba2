/**
 * ctx.state and chaining from sandboxed python and node functions on a real node: the wordcount
 * example, every state operation from python, read-modify-write under a lock from node, and a node
 * fan-out over the wasm square.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packFiles } from '../helpers/archive.js';
import { startTern, type TernProcess } from '../helpers/node.js';
import { buildModules, deploy, EXAMPLES, invoke } from './helpers.js';

const PY_STATE = `
import json
import tern

def handle(req, ctx):
    s = ctx.state
    out = {}
    out["missing"] = s.get("py/k")
    out["set"] = s.set("py/k", "hello")
    out["append"] = s.append("py/k", b" world")
    out["write"] = s.write("py/k", 0, "J")
    out["get"] = s.get("py/k").decode()
    out["part"] = s.get("py/k", offset=6, length=3).decode()
    out["size"] = s.size("py/k")
    with s.locked("py/k"):
        s.append("py/k", "!")
    s.push("py/k")
    out["pulled"] = s.pull("py/k")
    out["after"] = s.get("py/k").decode()
    try:
        s.set(".bad", "x")
    except tern.HostError as e:
        out["bad"] = e.code
    try:
        s.unlock("py/never-locked")
    except tern.HostError as e:
        out["unlock"] = e.code
    out["deleted"] = s.delete("py/k")
    out["deleted_again"] = s.delete("py/k")
    pending = [ctx.call_async("square", str(i)) for i in range(5)]
    out["squares"] = [int(p.result().body) for p in pending]
    out["sync"] = ctx.call("square", "9").body.decode()
    return out
`;

const NODE_RMW = `
export default async function handle(req, ctx) {
  const key = req.params?.key ?? new URLSearchParams(req.query).get('key');
  const m = Number(new URLSearchParams(req.query).get('m'));
  const writer = req.text();
  for (let j = 0; j < m; j++) {
    await ctx.state.locked(key, async () => {
      const old = (await ctx.state.get(key)) ?? Buffer.alloc(0);
      await ctx.state.set(key, Buffer.concat([old, Buffer.from(writer + '.' + j + ';')]));
    });
  }
  return 'ok';
}
`;

const NODE_FANOUT = `
export default async function handle(req, ctx) {
  const n = Number(new URLSearchParams(req.query).get('n') ?? 10);
  const started = Array.from({ length: n }, (_, i) => ctx.callAsync('square', String(i)));
  const results = await Promise.all(started);
  return { n, sum: results.reduce((s, r) => s + Number(r.text()), 0), statuses: [...new Set(results.map((r) => r.status))] };
}
`;

describe('state and chaining from python and node', () => {
  let node: TernProcess;
  before(async () => {
    buildModules();
    node = await startTern();
    await deploy(node, join(EXAMPLES, 'square'), 'square');
    await deploy(node, join(EXAMPLES, 'put'), 'put');
    await deploy(node, join(EXAMPLES, 'wordcount'), 'wordcount');
    const put = async (name: string, files: Record<string, string>) => {
      const res = await node.api('PUT', `/v1/functions/${name}`, {
        body: await packFiles(files),
        headers: { 'content-type': 'application/gzip' },
      });
      assert.equal(res.status, 201, await res.text());
    };
    await put('py-state', {
      'function.toml': 'runtime = "python"\nhandler = "main:handle"\ntimeout = "30s"\n',
      'main.py': PY_STATE,
    });
    await put('node-rmw', {
      'function.toml':
        'runtime = "node"\nhandler = "index.mjs"\ntimeout = "60s"\nconcurrent-requests = 4\nmax-instances = 2\n',
      'index.mjs': NODE_RMW,
    });
    await put('node-fanout', {
      'function.toml': 'runtime = "node"\nhandler = "index.mjs"\ntimeout = "30s"\n',
      'index.mjs': NODE_FANOUT,
    });
  });
  after(async () => {
    await node?.stop({ cleanup: true });
  });

  test('wordcount counts the words of a stored text', async () => {
    await invoke(node, 'put/texts/hat', { method: 'PUT', body: "The cat and the hat.\nThe END, the end; isn't it?" });
    const r = await invoke(node, 'wordcount/texts/hat');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { the: 4, cat: 1, and: 1, hat: 1, end: 2, "isn't": 1, it: 1 });
    assert.equal((await invoke(node, 'wordcount?key=texts/none')).status, 404);
  });

  test('python ctx.state: every operation, errors with codes, call and call_async', async () => {
    const r = await invoke(node, 'py-state');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), {
      missing: null,
      set: 5,
      append: 11,
      write: 11,
      get: 'Jello world',
      part: 'wor',
      size: 11,
      pulled: true,
      after: 'Jello world!',
      bad: 'bad_request',
      unlock: 'bad_request',
      deleted: true,
      deleted_again: false,
      squares: [0, 1, 4, 9, 16],
      sync: '81',
    });
    assert.deepEqual(
      r.report.children?.map((c) => [c.function, c.status]),
      Array.from({ length: 6 }, () => ['square', 200]),
    );
  });

  test('node: read-modify-write under ctx.state.locked from concurrent calls loses nothing', async () => {
    const writers = 6;
    const appends = 10;
    const replies = await Promise.all(
      Array.from({ length: writers }, (_, w) => invoke(node, `node-rmw?key=node-log&m=${appends}`, { body: `w${w}` })),
    );
    for (const r of replies) assert.deepEqual([r.status, r.body], [200, 'ok']);
    const entries = (await (await node.api('GET', '/v1/state/node-log')).text()).split(';').filter(Boolean);
    assert.equal(entries.length, writers * appends);
    assert.equal(new Set(entries).size, writers * appends);
  });

  test('node: ctx.callAsync fan-out over the wasm square, children in the report', async () => {
    const r = await invoke(node, 'node-fanout?n=12');
    assert.equal(r.status, 200, r.body);
    assert.deepEqual(JSON.parse(r.body), { n: 12, sum: 506, statuses: [200] });
    assert.equal(r.report.children?.length, 12);
  });
});
