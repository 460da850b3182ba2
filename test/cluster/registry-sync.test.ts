/**
 * The shared registry against a real etcd, with in-process nodes: each a real folder store
 * (DirRegistry) wrapped by EtcdRegistry and kept in step by RegistrySync. Archives move between
 * them through a small in-test fetch that reads the other nodes' archive stores (over HTTP in the
 * e2e tests). The validator writes a random file into each deploy, as a runtime installing
 * dependencies would, so local content hashes differ from node to node.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { pino } from 'pino';
import { ArchiveStore, sha256 } from '../../src/cluster/archive-store.js';
import { createEtcdClient } from '../../src/cluster/etcd.js';
import { EtcdRegistry } from '../../src/cluster/etcd-registry.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { functionKey, parseFunctionRecord, type FunctionRecord } from '../../src/cluster/records.js';
import { RegistrySync } from '../../src/cluster/registry-sync.js';
import { signFunctionRecord } from '../../src/cluster/signed-records.js';
import { TernError } from '../../src/core/errors.js';
import { DirRegistry } from '../../src/registry/dir-store.js';
import type { RegistryEvent } from '../../src/registry/registry.js';
import { packFiles } from '../helpers/archive.js';
import { startEtcd, type EtcdServer } from './etcd.js';

const LIMITS = { archiveBytes: 8 * 1024 * 1024, unpackedBytes: 4 * 1024 * 1024, files: 100 };
const silent = pino({ enabled: false });
const KEYS = new ClusterKeys('registry-test-secret-0123456789');

interface SimNode {
  name: string;
  root: string;
  registry: EtcdRegistry;
  store: ArchiveStore;
  local: DirRegistry;
  sync: RegistrySync;
  events: RegistryEvent[];
  stop(): Promise<void>;
}

const prepareLikeARuntime = async (_spec: unknown, dir: string) => {
  await writeFile(join(dir, '.installed'), randomBytes(8));
};

function archiveOf(body: string): Promise<Buffer> {
  return packFiles({
    'function.toml': 'runtime = "python"\nhandler = "main:handle"\n',
    'main.py': `def handle(req):\n    return ${JSON.stringify(body)}\n`,
  });
}

describe('the shared registry on etcd', { timeout: 120_000 }, () => {
  let etcd: EtcdServer;
  let client: Etcd3;
  const nodes: SimNode[] = [];
  const roots: string[] = [];

  const fetchFromPeers = async (name: string, version: string, digest: string): Promise<Buffer> => {
    for (const node of nodes) {
      const held = await node.store.read(name, version);
      if (held && sha256(held.data) === digest) return held.data;
    }
    throw new TernError('unavailable', `nobody holds ${name} ${version}`);
  };

  async function startSimNode(name: string, root?: string): Promise<SimNode> {
    const dir = root ?? (await mkdtemp(join(tmpdir(), `tern-sync-${name}-`)));
    if (!root) roots.push(dir);
    const local = new DirRegistry({
      root: join(dir, 'functions'),
      limits: LIMITS,
      validate: prepareLikeARuntime,
      logger: silent,
    });
    const store = new ArchiveStore(join(dir, 'cluster'));
    const registry = new EtcdRegistry({ local, store, logger: silent });
    const events: RegistryEvent[] = [];
    registry.subscribe((e) => events.push(e));
    await registry.open();
    const sync = new RegistrySync({
      client,
      registry,
      keys: KEYS,
      nodeName: name,
      url: `http://${name}.invalid`,
      fetch: (record) => fetchFromPeers(record.name, record.version, record.archive.sha256),
      logger: silent,
      resyncMs: 1_000,
      retryMs: 200,
    });
    sync.start();
    const node: SimNode = {
      name,
      root: dir,
      registry,
      store,
      local,
      sync,
      events,
      stop: async () => {
        await sync.stop();
        await registry.close();
        nodes.splice(nodes.indexOf(node), 1);
      },
    };
    nodes.push(node);
    return node;
  }

  /** Resolve on the first registry event of `node` that matches (events seen before count too). */
  function nextEvent(node: SimNode, match: (e: RegistryEvent) => boolean, timeoutMs = 20_000): Promise<RegistryEvent> {
    const seen = node.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        stop();
        reject(new Error(`no matching event on ${node.name}; got ${JSON.stringify(node.events.map((e) => e.type))}`));
      }, timeoutMs);
      const stop = node.registry.subscribe((e) => {
        if (!match(e)) return;
        clearTimeout(timer);
        stop();
        resolve(e);
      });
    });
  }
  const deployed = (fn: string, version?: string) => (e: RegistryEvent) =>
    e.type === 'deployed' && e.fn.spec.name === fn && (version === undefined || e.fn.version === version);
  const removed = (fn: string) => (e: RegistryEvent) => e.type === 'removed' && e.name === fn;

  before(async () => {
    etcd = await startEtcd();
    client = createEtcdClient([etcd.url]);
  });

  after(async () => {
    for (const node of [...nodes]) await node.stop();
    client?.close();
    await etcd?.stop();
    await Promise.all(roots.map((r) => rm(r, { recursive: true, force: true })));
  });

  test('a deploy on one node reaches the other at the same version, whatever its local hash', async () => {
    const n1 = await startSimNode('n1');
    const n2 = await startSimNode('n2');
    const outcome = await n1.registry.deploy('hello', await archiveOf('hi'), 'tar.gz');
    assert.equal(outcome.created, true);
    const event = await nextEvent(n2, deployed('hello', outcome.fn.version));
    assert.equal(event.type === 'deployed' && event.fn.spec.runtime, 'python');
    assert.equal(n2.registry.get('hello')?.version, outcome.fn.version);
    // Prepared differently here (the random file): another local version, the same cluster version.
    assert.notEqual(n2.local.get('hello')?.version, n1.local.get('hello')?.version);

    const record = parseFunctionRecord((await client.get(functionKey('hello')).string())!);
    assert.ok(record && !record.deleted);
    assert.equal(record.version, outcome.fn.version);
    assert.equal(record.source, 'n1');
  });

  test('an update on another node reaches every node', async () => {
    const [n1, n2] = nodes as [SimNode, SimNode];
    const before = n1.registry.get('hello')!.version;
    const updated = await n2.registry.deploy('hello', await archiveOf('hi again'), 'tar.gz');
    assert.notEqual(updated.fn.version, before);
    await nextEvent(n1, deployed('hello', updated.fn.version));
    assert.equal(n1.registry.get('hello')?.version, updated.fn.version);
  });

  test('a delete on one node removes the function everywhere', async () => {
    const [n1, n2] = nodes as [SimNode, SimNode];
    await n2.registry.remove('hello');
    await nextEvent(n1, removed('hello'));
    assert.equal(n1.registry.get('hello'), undefined);
    assert.equal(n1.store.get('hello'), undefined);
    const record = parseFunctionRecord((await client.get(functionKey('hello')).string())!);
    assert.equal(record?.deleted, true);
  });

  test('a node that starts later catches up from etcd', async () => {
    const [n1] = nodes as [SimNode];
    const v = (await n1.registry.deploy('later', await archiveOf('later'), 'tar.gz')).fn.version;
    await nextEvent(nodes[1]!, deployed('later', v));
    const n3 = await startSimNode('n3');
    await nextEvent(n3, deployed('later', v));
    assert.equal(n3.registry.get('hello'), undefined, 'a deleted function stays deleted');
  });

  test('a node joining with functions of its own offers them to the cluster', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tern-sync-n4-'));
    roots.push(root);
    const before = new DirRegistry({ root: join(root, 'functions'), limits: LIMITS, logger: silent });
    await before.open();
    const own = await before.deploy('own', await archiveOf('mine'), 'tar.gz');
    await before.close();
    await startSimNode('n4', root);
    for (const node of nodes.filter((n) => n.name !== 'n4')) await nextEvent(node, deployed('own', own.fn.version));
  });

  test('a node that was away when a function was deleted removes it on its return', async () => {
    const n3 = nodes.find((n) => n.name === 'n3')!;
    const root = n3.root;
    await n3.stop();
    const [n1] = nodes as [SimNode];
    await n1.registry.remove('later');
    const back = await startSimNode('n3', root);
    assert.ok(back.registry.get('later'), 'still there from before');
    await nextEvent(back, removed('later'));
    assert.equal(back.registry.get('later'), undefined);
  });

  /**
   * Resolve once every node has seen everything put into etcd before now: a fresh function deployed
   * on `from` reaches the others through the same ordered watch, after whatever was put before it.
   */
  let markers = 0;
  async function seenByAll(from: SimNode): Promise<void> {
    const name = `marker-${++markers}`;
    const { fn } = await from.registry.deploy(name, await archiveOf(name), 'tar.gz');
    await Promise.all(nodes.filter((n) => n !== from).map((n) => nextEvent(n, deployed(name, fn.version))));
  }

  /** Resolve with the record at `key` once `ok` holds for it (watched, not polled). */
  async function recordWhere(key: string, ok: (r: FunctionRecord | undefined) => boolean): Promise<FunctionRecord> {
    const watcher = await client.watch().key(key).create();
    try {
      const now = parseFunctionRecord((await client.get(key).string()) ?? '');
      if (ok(now)) return now!;
      return await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no record at ${key} matched`)), 20_000);
        watcher.on('put', (kv) => {
          const record = parseFunctionRecord(kv.value.toString());
          if (!ok(record)) return;
          clearTimeout(timer);
          resolve(record!);
        });
      });
    } finally {
      await watcher.cancel();
    }
  }

  test('a forged record or tombstone written into etcd changes nothing', async () => {
    const live = nodes.filter((n) => n.registry.get('own'));
    assert.ok(live.length >= 2);
    const key = functionKey('own');
    const genuine = (await client.get(key).string())!;
    const record = parseFunctionRecord(genuine)!;
    assert.equal(record.deleted, false);
    // An altered copy (another digest), a tombstone with a made-up MAC, and one signed with another secret.
    const altered = { ...record, version: 'ffffffffffffffff', mac: record.mac };
    const tombstone = {
      name: 'own',
      deleted: true as const,
      version: record.version,
      source: 'x',
      deletedAt: new Date().toISOString(),
      seq: record.seq + 1,
    };
    const forgedTombstone = { ...tombstone, mac: 'A'.repeat(43) };
    const strangerTombstone = signFunctionRecord(new ClusterKeys('not-the-cluster-secret-0123'), tombstone);
    const evil = signFunctionRecord(new ClusterKeys('not-the-cluster-secret-0123'), {
      ...record,
      name: 'evil',
      seq: 1,
    });
    for (const value of [altered, forgedTombstone, strangerTombstone])
      await client.put(key).value(JSON.stringify(value));
    await client.put(functionKey('evil')).value(JSON.stringify(evil));
    await seenByAll(live[0]!);
    for (const node of live) {
      assert.equal(node.registry.get('own')?.version, record.version, `${node.name} still has own`);
      assert.ok(!node.events.some(removed('own')), `${node.name} removed nothing`);
      assert.equal(node.registry.get('evil'), undefined);
    }
    await client.put(key).value(genuine);
    await client.delete().key(functionKey('evil'));
  });

  test('a genuine tombstone put back after a redeploy is stale: ignored, and the newer record written again', async () => {
    const [n1, n2] = nodes as [SimNode, SimNode];
    const key = functionKey('again');
    const first = await n1.registry.deploy('again', await archiveOf('first'), 'tar.gz');
    await nextEvent(n2, deployed('again', first.fn.version));
    await n1.registry.remove('again');
    await nextEvent(n2, removed('again'));
    const tombstone = (await client.get(key).string())!;
    const second = await n1.registry.deploy('again', await archiveOf('second'), 'tar.gz');
    const redeployed = (e: RegistryEvent) =>
      deployed('again', second.fn.version)(e) && n2.events.filter(removed('again')).length === 1;
    await nextEvent(n2, redeployed);
    const live = parseFunctionRecord((await client.get(key).string())!)!;

    await client.put(key).value(tombstone);
    // The nodes put a newer record back (seq past the live one's); nothing was removed meanwhile.
    await recordWhere(key, (r) => r !== undefined && !r.deleted && r.seq > live.seq);
    for (const node of [n1, n2]) assert.equal(node.registry.get('again')?.version, second.fn.version);
    assert.equal(n2.events.filter(removed('again')).length, 1, 'removed once, by the genuine delete only');
  });
});
