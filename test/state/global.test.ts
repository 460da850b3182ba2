/**
 * The global tier: two real nodes sharing one real redis-server (no etcd: the global tier needs
 * only `redis`). A value reaches the other node by push and pull; read-modify-write under the
 * global lock from both nodes at once loses nothing.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startTern, type TernProcess } from '../helpers/node.js';
import { buildModules, deploy, EXAMPLES, FIXTURES, invoke, startRedis, type RedisProcess } from './helpers.js';

describe('state: global tier in Redis, two nodes', () => {
  let redis: RedisProcess;
  let a: TernProcess;
  let b: TernProcess;
  before(async () => {
    buildModules();
    redis = await startRedis();
    [a, b] = await Promise.all([
      startTern({ env: { TERN_REDIS: redis.url } }),
      startTern({ env: { TERN_REDIS: redis.url } }),
    ]);
    for (const node of [a, b]) {
      await deploy(node, join(EXAMPLES, 'put'), 'put');
      await deploy(node, join(EXAMPLES, 'get'), 'get');
      await deploy(node, join(FIXTURES, 'rmw'), 'rmw');
    }
  });
  after(async () => {
    await Promise.all([a?.stop({ cleanup: true }), b?.stop({ cleanup: true })]);
    await redis?.stop();
  });

  test('a value set on one node reaches the other after push and pull, not before', async () => {
    const info = (await (await b.api('GET', '/v1/state')).json()) as { global: string };
    assert.equal(info.global, redis.url);
    const put = await invoke(a, 'put/shared?push=1', { method: 'PUT', body: 'from node a' });
    assert.deepEqual([put.status, put.body], [200, 'stored 11 bytes under shared and pushed it\n']);
    // B's local tier has not seen it.
    assert.equal((await invoke(b, 'get/shared')).status, 404);
    const pulled = await invoke(b, 'get/shared?pull=1');
    assert.deepEqual([pulled.status, pulled.body], [200, 'from node a']);
    // Now local on B too.
    assert.equal((await invoke(b, 'get/shared')).body, 'from node a');
    // A later local change on A stays local until pushed.
    await invoke(a, 'put/shared', { method: 'PUT', body: 'changed on a' });
    assert.equal((await invoke(b, 'get/shared?pull=1')).body, 'from node a');
    assert.equal(await (await b.api('GET', '/v1/state/shared?tier=global')).text(), 'from node a');
    // The admin API writes the global tier directly.
    assert.equal((await a.api('PUT', '/v1/state/shared?tier=global', { body: 'set by admin' })).status, 204);
    assert.equal((await invoke(b, 'get/shared?pull=1')).body, 'set by admin');
    // A pull of a key the global tier lacks deletes the local value.
    assert.equal((await a.api('DELETE', '/v1/state/shared?tier=global')).status, 204);
    assert.equal((await invoke(b, 'get/shared?pull=1')).status, 404);
    assert.equal((await invoke(b, 'get/shared')).status, 404);
  });

  test('read-modify-write under the global lock from both nodes at once loses nothing', async () => {
    const perNode = 3;
    const appends = 10;
    const calls = [a, b].flatMap((node, n) =>
      Array.from({ length: perNode }, (_, i) =>
        invoke(node, `rmw?key=ledger&m=${appends}&global=1`, { body: `n${n}w${i}` }),
      ),
    );
    for (const r of await Promise.all(calls)) assert.deepEqual([r.status, r.body], [200, 'ok\n']);
    const value = await (await a.api('GET', '/v1/state/ledger?tier=global')).text();
    const entries = value.split(';').filter(Boolean);
    assert.equal(entries.length, 2 * perNode * appends);
    const expected = [0, 1].flatMap((n) =>
      Array.from({ length: perNode }, (_, i) => Array.from({ length: appends }, (_, j) => `n${n}w${i}.${j}`)).flat(),
    );
    assert.deepEqual([...entries].sort(), [...expected].sort());
  });
});
