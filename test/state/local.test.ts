/**
 * The local (embedded) state tier on one real node: values shared by instances at once, the admin
 * API, appends under a lock that lose nothing, and state that survives a restart.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTern, type TernProcess } from '../helpers/node.js';
import { buildModules, deploy, EXAMPLES, FIXTURES, invoke } from './helpers.js';

describe('state: local tier', () => {
  let node: TernProcess;
  before(async () => {
    buildModules();
    node = await startTern();
    await deploy(node, join(EXAMPLES, 'put'), 'put');
    await deploy(node, join(EXAMPLES, 'get'), 'get');
    await deploy(node, join(FIXTURES, 'rmw'), 'rmw');
    await deploy(node, join(FIXTURES, 'holder'), 'holder');
  });
  after(async () => {
    await node.stop({ cleanup: true });
  });

  test('a value set by one instance is seen by others at once, through overwrite, growth and delete', async () => {
    const put = await invoke(node, 'put/greeting', { method: 'PUT', body: 'hello' });
    assert.equal(put.status, 200, put.body);
    assert.equal(put.body, 'stored 5 bytes under greeting\n');
    // Several gets at once land on different instances (and worker threads).
    const gets = await Promise.all([1, 2, 3, 4].map(() => invoke(node, 'get/greeting')));
    for (const g of gets) assert.deepEqual([g.status, g.body], [200, 'hello']);
    assert.ok(new Set([put.report.instance, ...gets.map((g) => g.report.instance)]).size > 1);

    // Same size: written in place in the shared segment the readers already hold.
    await invoke(node, 'put/greeting', { method: 'PUT', body: 'HELLO' });
    for (const g of await Promise.all([1, 2, 3].map(() => invoke(node, 'get?key=greeting'))))
      assert.equal(g.body, 'HELLO');
    // Bigger: the value moves to a new segment; readers holding the old one must notice.
    const big = 'x'.repeat(100_000);
    await invoke(node, 'put/greeting', { method: 'PUT', body: big });
    for (const g of await Promise.all([1, 2, 3].map(() => invoke(node, 'get/greeting')))) assert.equal(g.body, big);
    const deleted = await node.api('DELETE', '/v1/state/greeting');
    assert.equal(deleted.status, 204);
    const gone = await invoke(node, 'get/greeting');
    assert.equal(gone.status, 404);
    assert.equal(gone.body, 'no state "greeting"\n');
  });

  test('admin API: PUT, GET, DELETE /v1/state/{key} with the token; bad keys refused', async () => {
    assert.equal((await node.api('PUT', '/v1/state/users/alice', { body: 'A' })).status, 204);
    const got = await node.api('GET', '/v1/state/users/alice');
    assert.equal(got.status, 200);
    assert.equal(got.headers.get('content-type'), 'application/octet-stream');
    assert.equal(await got.text(), 'A');
    assert.equal((await invoke(node, 'get/users/alice')).body, 'A');
    // Without Redis the node is its own global tier.
    assert.equal(await (await node.api('GET', '/v1/state/users/alice?tier=global')).text(), 'A');
    assert.equal((await node.api('GET', '/v1/state/users/alice', { token: null })).status, 401);
    const bad = await node.api('PUT', '/v1/state/.hidden', { body: 'x' });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: { message: string } }).error.message, /bad state key/);
    assert.equal((await node.api('GET', '/v1/state/nothing-here')).status, 404);
    assert.equal((await node.api('DELETE', '/v1/state/nothing-here')).status, 404);
    assert.equal((await node.api('GET', '/v1/state/users/alice?tier=elsewhere')).status, 400);
    const info = (await (await node.api('GET', '/v1/state')).json()) as { keys: number; global: string };
    assert.equal(info.global, 'embedded');
    assert.ok(info.keys >= 1);
    assert.equal((await node.api('DELETE', '/v1/state/users/alice')).status, 204);
  });

  test('concurrent read-modify-write appends under a lock lose nothing (N writers × M appends)', async () => {
    const writers = 8;
    const appends = 25;
    const replies = await Promise.all(
      Array.from({ length: writers }, (_, w) => invoke(node, 'rmw?key=log&m=25', { body: `w${w}` })),
    );
    for (const r of replies) assert.deepEqual([r.status, r.body], [200, 'ok\n']);
    const value = await (await node.api('GET', '/v1/state/log')).text();
    const entries = value.split(';').filter(Boolean);
    assert.equal(entries.length, writers * appends);
    const expected = Array.from({ length: writers }, (_, w) =>
      Array.from({ length: appends }, (_, j) => `w${w}.${j}`),
    ).flat();
    assert.deepEqual([...entries].sort(), [...expected].sort());
    // Each writer's own entries stay in order.
    for (let w = 0; w < writers; w++)
      assert.deepEqual(
        entries.filter((e) => e.startsWith(`w${w}.`)),
        expected.filter((e) => e.startsWith(`w${w}.`)),
      );
  });

  test("a call's locks are freed when it ends without unlocking, by returning or by its timeout", async () => {
    // holder takes the lock and never unlocks; its timeout is 1 s, the lock wait 10 s: a lock left
    // held would make the next call time out too.
    const timedOut = await invoke(node, 'holder?sleep=5000');
    assert.equal(timedOut.status, 504, timedOut.body);
    const next = await invoke(node, 'holder');
    assert.deepEqual([next.status, next.body], [200, 'held\n']);
    const again = await invoke(node, 'holder');
    assert.deepEqual([again.status, again.body], [200, 'held\n']);
    assert.equal(await (await node.api('GET', '/v1/state/held-key')).text(), 'held;held;held;');
  });
});

describe('state: embedded tier survives a restart', () => {
  test('values set by functions and by the API are there after stop and start on the same data folder', async () => {
    buildModules();
    const first = await startTern();
    try {
      await deploy(first, join(EXAMPLES, 'put'), 'put');
      await deploy(first, join(EXAMPLES, 'get'), 'get');
      assert.equal((await invoke(first, 'put/kept', { method: 'PUT', body: 'still here' })).status, 200);
      assert.equal((await first.api('PUT', '/v1/state/binary', { body: Buffer.from([0, 1, 2, 255]) })).status, 204);
      assert.equal((await first.api('PUT', '/v1/state/dropped', { body: 'x' })).status, 204);
      assert.equal((await first.api('DELETE', '/v1/state/dropped')).status, 204);
    } finally {
      assert.equal(await first.stop(), 0);
    }
    const second = await startTern({ data: first.data });
    try {
      const kept = await invoke(second, 'get/kept');
      assert.deepEqual([kept.status, kept.body], [200, 'still here']);
      const binary = Buffer.from(await (await second.api('GET', '/v1/state/binary')).arrayBuffer());
      assert.deepEqual([...binary], [0, 1, 2, 255]);
      assert.equal((await second.api('GET', '/v1/state/dropped')).status, 404);
    } finally {
      await second.stop({ cleanup: true });
    }
  });
});
