/**
 * Archives fetched from peers are checked against the size and sha256 of the signed record before
 * anything is written: a peer (or anyone on the way) serving other bytes gets them refused, the
 * next node is asked, and a refused copy leaves nothing on disk. The peers are small servers on
 * loopback that check the signed request as a node does and serve what the test tells them to.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { fetchArchive, type ArchiveSource } from '../../src/cluster/archive-fetch.js';
import { ArchiveStore, sha256 } from '../../src/cluster/archive-store.js';
import { EtcdRegistry } from '../../src/cluster/etcd-registry.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import { createPeerAgent } from '../../src/cluster/peer-client.js';
import type { LiveFunctionRecord } from '../../src/cluster/records.js';
import { RequestVerifier } from '../../src/cluster/request-auth.js';
import { signFunctionRecord } from '../../src/cluster/signed-records.js';
import type { TernError } from '../../src/core/errors.js';
import { DirRegistry } from '../../src/registry/dir-store.js';
import { packFiles } from '../helpers/archive.js';

const KEYS = new ClusterKeys('archive-test-secret-0123456789');
const LIMITS = { archiveBytes: 8 * 1024 * 1024, unpackedBytes: 4 * 1024 * 1024, files: 100 };
const silent = pino({ enabled: false });

/** Every file under `dir`, relative paths. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
}

describe('archives fetched from peers', () => {
  const servers: Server[] = [];
  const agent = createPeerAgent();
  let dir: string;
  let genuine: Buffer;
  let record: LiveFunctionRecord;

  /** A peer named `name` that answers a signed archive request with `data`. */
  async function peer(name: string, data: Buffer): Promise<ArchiveSource> {
    const verifier = new RequestVerifier(KEYS, name);
    const server = createServer((req, res) => {
      try {
        verifier.verify(req.method ?? '', req.url ?? '', req.headers);
      } catch (e) {
        res.writeHead((e as TernError).status).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/gzip' }).end(data);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return { name, url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}` };
  }

  const registryIn = async (root: string) => {
    const local = new DirRegistry({ root: join(root, 'functions'), limits: LIMITS, logger: silent });
    const store = new ArchiveStore(join(root, 'cluster'));
    const registry = new EtcdRegistry({ local, store, logger: silent });
    await registry.open();
    return registry;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tern-archive-fetch-'));
    genuine = await packFiles({
      'function.toml': 'runtime = "python"\nhandler = "main:handle"\n',
      'main.py': 'def handle(req):\n    return "genuine"\n',
    });
    record = signFunctionRecord(KEYS, {
      name: 'fetched',
      deleted: false,
      version: '0123456789abcdef',
      source: 'origin',
      url: 'http://127.0.0.1:9',
      archive: { type: 'tar.gz', sha256: sha256(genuine), bytes: genuine.length },
      deployedAt: new Date().toISOString(),
      seq: 1,
    }) as LiveFunctionRecord;
  });

  after(async () => {
    agent.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    await rm(dir, { recursive: true, force: true });
  });

  const deps = { agent, keys: KEYS, nodeName: 'fetcher', logger: silent };

  test('other bytes of the same size are refused, and nothing is written', async () => {
    const tampered = Buffer.from(genuine);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 10) ^ 0xff, tampered.length - 10);
    const liar = await peer('liar', tampered);
    const root = join(dir, 'refused');
    const registry = await registryIn(root);
    await assert.rejects(
      registry.adopt('fetched', record, () => fetchArchive(deps, record, [liar])),
      (e: Error) => /content does not match the published sha256/.test(e.message),
    );
    assert.equal(registry.get('fetched'), undefined);
    assert.deepEqual(await filesUnder(root), [], 'no archive, no function folder, no temp file');
    await registry.close();
  });

  test('a longer answer is cut off at the size the record names', async () => {
    const padded = await peer('padder', Buffer.concat([genuine, Buffer.alloc(1024)]));
    await assert.rejects(fetchArchive(deps, record, [padded]), /over \d+ bytes/);
  });

  test('the next node is asked after a bad copy, and the genuine one is deployed', async () => {
    const liar = await peer('liar-2', Buffer.alloc(genuine.length, 1));
    const honest = await peer('honest', genuine);
    const root = join(dir, 'deployed');
    const registry = await registryIn(root);
    assert.equal(await registry.adopt('fetched', record, () => fetchArchive(deps, record, [liar, honest])), 'deployed');
    assert.equal(registry.get('fetched')?.version, record.version);
    const held = (await filesUnder(join(root, 'cluster'))).sort();
    assert.deepEqual(held, [`fetched/${record.archive.sha256}.tar.gz`, 'fetched/meta.json']);
    await registry.close();
  });
});
