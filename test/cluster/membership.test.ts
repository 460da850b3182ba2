/**
 * Membership against a real etcd: registration under a lease, the member view, leaving, a lease
 * lost under a live node (it registers again with a new one), a node that stops renewing, and the
 * records a peer must not trust (written straight into etcd, signed with another secret, stale).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { createEtcdClient } from '../../src/cluster/etcd.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { Membership } from '../../src/cluster/membership.js';
import { nodeKey, type MemberRecord } from '../../src/cluster/records.js';
import { MEMBER_MAX_AGE_MS, signMember } from '../../src/cluster/signed-records.js';
import { startEtcd, type EtcdServer } from './etcd.js';

const silent = pino({ enabled: false });
const KEYS = new ClusterKeys('membership-test-secret-0123456789');

function record(name: string, queued = 0): MemberRecord {
  return {
    name,
    role: 'edge',
    area: 'a',
    url: `http://${name}.invalid:8080`,
    load: { freeMemoryMiB: 100, queued, warm: 0, busy: 0 },
    warmFunctions: [],
    startedAt: new Date().toISOString(),
  };
}

/** Resolve once `m`'s view satisfies `check`, re-checked after each of its refreshes. */
function viewWhere(m: Membership, check: (names: string[]) => boolean, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const test = () =>
      check(
        m
          .members()
          .map((x) => x.name)
          .sort(),
      );
    if (test()) return resolve();
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`view is ${JSON.stringify(m.members().map((x) => x.name))}`));
    }, timeoutMs);
    const stop = m.onRefresh(() => {
      if (!test()) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}

describe('cluster membership', { timeout: 120_000 }, () => {
  let etcd: EtcdServer;
  const clients: Etcd3[] = [];
  const running: Membership[] = [];

  const join = (name: string, self: () => MemberRecord = () => record(name), ttlSec = 2, keys = KEYS) => {
    const client = createEtcdClient([etcd.url]);
    clients.push(client);
    const m = new Membership({ client, self, keys, ttlSec, intervalMs: 200, logger: silent });
    running.push(m);
    m.start();
    return { m, client };
  };

  before(async () => {
    etcd = await startEtcd();
  });

  after(async () => {
    await Promise.allSettled(running.map((m) => m.leave()));
    for (const c of clients) c.close();
    await etcd?.stop();
  });

  test('members see each other, with their load as it changes', async () => {
    let queued = 0;
    const { m: one } = join('one');
    const { m: two } = join('two', () => record('two', queued));
    await viewWhere(one, (n) => n.join() === 'one,two');
    await viewWhere(two, (n) => n.join() === 'one,two');
    assert.deepEqual(
      two.peers().map((p) => p.name),
      ['one'],
    );
    queued = 3;
    await viewWhere(one, () => one.peers().find((p) => p.name === 'two')?.load.queued === 3);
  });

  test('a node that leaves is gone at once', async () => {
    const { m: three } = join('three');
    const one = running[0]!;
    await viewWhere(one, (n) => n.includes('three'));
    await three.leave();
    await viewWhere(one, (n) => !n.includes('three'));
  });

  test('a lost lease is replaced: the node registers again with a new one', async () => {
    const { m: four, client } = join('four');
    await viewWhere(four, (n) => n.includes('four'));
    const before = await client.get(nodeKey('four')).exec();
    const lease = before.kvs[0]!.lease;
    // Revoke it behind the node's back, as an etcd that expired it would.
    await client.leaseClient.leaseRevoke({ ID: lease });
    const newLease = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('not registered again')), 20_000);
      const stop = four.onRefresh(() => {
        void client
          .get(nodeKey('four'))
          .exec()
          .then((res) => {
            const current = res.kvs[0]?.lease;
            if (current === undefined || current === lease) return;
            clearTimeout(timer);
            stop();
            resolve(current);
          });
      });
    });
    assert.notEqual(newLease, lease);
    await viewWhere(running[0]!, (n) => n.includes('four'));
  });

  test('a node that stops renewing drops out when its lease ends', async () => {
    const { m: five, client } = join('five');
    const one = running[0]!;
    await viewWhere(one, (n) => n.includes('five'));
    // A crash: no revoke, no more keep-alives.
    running.splice(running.indexOf(five), 1);
    clients.splice(clients.indexOf(client), 1);
    client.close();
    await five.leave();
    await viewWhere(one, (n) => !n.includes('five'), 30_000);
  });

  /** Resolve after `m` has refreshed its view twice (so a read started after now has been applied). */
  const twoRefreshes = (m: Membership) =>
    new Promise<void>((resolve) => {
      let left = 2;
      const stop = m.onRefresh(() => {
        if (--left > 0) return;
        stop();
        resolve();
      });
    });

  test('records that do not verify are not members: written straight into etcd, or signed long ago', async () => {
    const one = running[0]!;
    const client = clients[0]!;
    const forged = { ...record('forged'), signedAt: Date.now(), mac: 'A'.repeat(43) };
    await client.put(nodeKey('forged')).value(JSON.stringify(forged));
    await client.put(nodeKey('unsigned')).value(JSON.stringify(record('unsigned')));
    const old = signMember(KEYS, record('replayed'), Date.now() - MEMBER_MAX_AGE_MS - 1_000);
    await client.put(nodeKey('replayed')).value(JSON.stringify(old));
    const fresh = signMember(KEYS, record('genuine'));
    await client.put(nodeKey('genuine')).value(JSON.stringify(fresh));
    await twoRefreshes(one);
    const names = one.members().map((m) => m.name);
    assert.ok(names.includes('genuine'), 'a record signed with the cluster key is listed');
    for (const bad of ['forged', 'unsigned', 'replayed']) assert.ok(!names.includes(bad), `${bad} is not a member`);
    await client.delete().key(nodeKey('genuine'));
  });

  test('a node with another secret is not a member, and lists none of the others', async () => {
    const one = running[0]!;
    const { m: stranger } = join(
      'stranger',
      () => record('stranger'),
      2,
      new ClusterKeys('another-secret-0123456789abcdef'),
    );
    await viewWhere(stranger, (n) => n.includes('stranger'));
    await twoRefreshes(one);
    assert.ok(!one.members().some((m) => m.name === 'stranger'));
    assert.deepEqual(
      stranger.members().map((m) => m.name),
      ['stranger'],
    );
  });
});
