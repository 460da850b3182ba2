/**
 * Cluster trust against real nodes (docs/security.md, "A peer node and an etcd writer"). Two edge
 * nodes hold the cluster secret; a third was started with another one. Each node advertises a
 * recording proxy in front of it, so every byte peers send a node is seen; a decoy server stands
 * where forged records point. The tests write forged records straight into etcd, capture and
 * replay node-to-node requests, and check what reaches functions and the wire.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../../src/cluster/etcd.js';
import { functionKey, nodeKey, parseFunctionRecord, type MemberRecord } from '../../src/cluster/records.js';
import { signRequest } from '../../src/cluster/request-auth.js';
import { signFunctionRecord, signMember } from '../../src/cluster/signed-records.js';
import { encodeInvocation } from '../../src/cluster/wire.js';
import { createInvocation } from '../../src/core/invocation.js';
import { packFiles } from '../helpers/archive.js';
import type { TernProcess } from '../helpers/node.js';
import {
  busyOn,
  deployFixture,
  invoke,
  KEYS,
  members,
  removeScratch,
  SECRET,
  startEtcd,
  startNode,
  until,
  waitDeployed,
  waitForLog,
  waitMembers,
  type EtcdServer,
  type NodeSpec,
} from './harness.js';
import { startRecorder, wireText, type Recorder } from './recorder.js';

const A: NodeSpec = { name: 'trust-a', role: 'edge', area: 'a' };
const B: NodeSpec = { name: 'trust-b', role: 'edge', area: 'a' };
const W: NodeSpec = { name: 'trust-wrong', role: 'edge', area: 'a' };
const WRONG_SECRET = 'not-this-clusters-secret-0123456789';

/** Edge settings of fixtures/edge.toml, plus the proxy's URL as the address peers use. */
const edgeConfig = (advertise: string) =>
  `[queue]\ncapacity = 0\nwait = "5s"\n\n[cluster]\noffload = "edge-cloud"\nlease-ttl = 3\nadvertise = "${advertise}"\n`;

/** Sleeps ?ms=, then answers with the request headers it got (to see what reached the function). */
const peekArchive = (name: string, isPrivate: boolean) =>
  packFiles({
    'function.toml': `name = "${name}"\nruntime = "python"\nhandler = "main:handle"\nmemory = 32\nmax-instances = 1\noffload = "edge"\nprivate = ${isPrivate}\n`,
    'main.py':
      'import time\n\n\ndef handle(req):\n    time.sleep(int(req.params.get("ms", "0")) / 1000)\n    return {"headers": req.headers}\n',
  });

/** A member record as a node writes one, pointing at `url`: the most attractive candidate there is. */
const forgedMember = (name: string, url: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({
    name,
    role: 'edge',
    area: 'a',
    url,
    load: { freeMemoryMiB: 100_000, queued: 0, warm: 9, busy: 0 },
    warmFunctions: ['slow', 'peek', 'peek-open'],
    startedAt: new Date().toISOString(),
    ...extra,
  });

/** The message of a JSON error answer. */
const errorOf = async (res: Response): Promise<string> =>
  ((await res.json()) as { error: { message: string } }).error.message;

describe('cluster trust: members, records and node-to-node requests', { timeout: 300_000 }, () => {
  let etcd: EtcdServer;
  let client: Etcd3;
  let folder: string;
  let a: TernProcess;
  let b: TernProcess;
  let w: TernProcess;
  const proxies: Record<string, Recorder> = {};
  let decoy: Recorder;
  let slowVersion = '';

  const startBehind = async (spec: NodeSpec, env: Record<string, string> = {}): Promise<TernProcess> => {
    const proxy = await startRecorder();
    proxies[spec.name] = proxy;
    const config = join(folder, `${spec.name}.toml`);
    await writeFile(config, edgeConfig(proxy.url));
    const node = await startNode(etcd, { ...spec, args: ['--config', config, '--memory-budget', '256'] }, env);
    proxy.forwardTo(node.url);
    return node;
  };
  const allRequests = () => Object.values(proxies).flatMap((p) => p.requests);

  before(async () => {
    etcd = await startEtcd();
    client = createEtcdClient([etcd.url]);
    folder = await mkdtemp(join(tmpdir(), 'tern-trust-'));
    decoy = await startRecorder();
    [a, b, w] = await Promise.all([
      startBehind(A),
      startBehind(B),
      startBehind(W, { TERN_CLUSTER_SECRET: WRONG_SECRET }),
    ]);
  });

  after(async () => {
    await Promise.allSettled([a, b, w].filter(Boolean).map((n) => n.stop({ cleanup: true })));
    await Promise.allSettled([a, b, w].filter(Boolean).map((n) => removeScratch(n)));
    await Promise.allSettled([decoy, ...Object.values(proxies)].filter(Boolean).map((r) => r.close()));
    client?.close();
    await etcd?.stop();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  test('a member record written straight into etcd, or a node with another secret, is not listed', async () => {
    for (const name of [A.name, B.name, W.name])
      await until(async () => ((await client.get(nodeKey(name)).string()) ? true : undefined), `${name} registered`);
    await client.put(nodeKey('forged-unsigned')).value(forgedMember('forged-unsigned', decoy.url));
    const made = forgedMember('forged-mac', decoy.url, { signedAt: Date.now(), mac: 'A'.repeat(43) });
    await client.put(nodeKey('forged-mac')).value(made);
    // A genuine record put after them: once a node lists it, its view was read after the forgeries.
    const canary = signMember(KEYS, JSON.parse(forgedMember('canary', 'http://127.0.0.1:9')) as MemberRecord);
    await client.put(nodeKey('canary')).value(JSON.stringify(canary));
    for (const node of [a, b]) {
      const listed = await until(
        async () => ((await members(node)).some((m) => m.name === 'canary') ? members(node) : undefined),
        'the canary listed',
      );
      assert.deepEqual(listed.map((m) => m.name).sort(), [A.name, B.name, 'canary'].sort());
    }
    await client.delete().key(nodeKey('canary'));
    await waitMembers(a, [A.name, B.name]);
    for (const node of [a, b])
      for (const key of ['forged-unsigned', 'forged-mac', W.name].map(nodeKey))
        await waitForLog(node, (e) => e.event === 'cluster_bad_member' && e.key === key, `${key} refused, said once`);
    // The node with another secret cannot verify the others either: it is alone.
    await waitForLog(w, (e) => e.event === 'cluster_bad_member' && e.key === nodeKey(A.name), 'A refused by W');
    assert.deepEqual(
      (await members(w)).map((m) => m.name),
      [W.name],
    );
  });

  test('a saturated node offloads to a verified member only: nothing reaches a forged member or another secret', async () => {
    slowVersion = await deployFixture(a, 'slow');
    await waitDeployed(b, 'slow', slowVersion);
    const first = invoke(a, 'slow', 'ms=3000&tag=1');
    await busyOn(a, ['slow']);
    const second = await invoke(a, 'slow', 'ms=0&tag=2');
    assert.equal(second.status, 200, second.body);
    assert.equal(second.report?.node, B.name);
    assert.equal((await first).report?.node, A.name);
    assert.equal(decoy.requests.length, 0, 'the forged members got nothing');
    assert.equal(proxies[W.name]!.requests.length, 0, 'the node with another secret got nothing');
    assert.equal(w.output().includes('"event":"deploy"'), false, "nor does it run the cluster's functions");
  });

  test("the secret never travels; a private call arrives without the token, a public one with the caller's own", async () => {
    const auth = { authorization: `Bearer ${a.token}` };
    for (const [name, isPrivate] of [
      ['peek', true],
      ['peek-open', false],
    ] as const) {
      const res = await a.api('PUT', `/v1/functions/${name}`, {
        body: await peekArchive(name, isPrivate),
        headers: { 'content-type': 'application/gzip' },
      });
      assert.equal(res.status, 201, await res.text());
      await waitDeployed(
        b,
        name,
        ((await (await a.api('GET', `/v1/functions/${name}`)).json()) as { version: string }).version,
      );
    }
    const forwarded = async (name: string, headers: Record<string, string>) => {
      const first = invoke(a, name, 'ms=3000', { headers });
      await busyOn(a, [name]);
      const out = await invoke(a, name, 'ms=0', { headers });
      assert.equal(out.status, 200, out.body);
      assert.equal(out.report?.node, B.name, 'offloaded to B');
      assert.equal((await first).status, 200);
      return (JSON.parse(out.body) as { headers: Record<string, string> }).headers;
    };
    const seenPrivate = await forwarded('peek', auth);
    assert.equal(seenPrivate.authorization, undefined, "the caller's token of a private function stays on A");
    assert.deepEqual(
      Object.keys(seenPrivate).filter((h) => h.startsWith('x-tern-')),
      [],
      'no cluster header reaches it',
    );
    const seenPublic = await forwarded('peek-open', { authorization: 'Bearer the-callers-own' });
    assert.equal(seenPublic.authorization, 'Bearer the-callers-own');

    const sent = allRequests();
    assert.ok(
      sent.some((r) => r.url.startsWith('/v1/cluster/invoke/')),
      'forwarded calls were recorded',
    );
    assert.ok(
      sent.some((r) => r.url.startsWith('/v1/cluster/archive/')),
      'archive fetches were recorded',
    );
    for (const r of sent) {
      assert.ok(!wireText(r).includes(SECRET), `the secret is not in ${r.method} ${r.url}`);
      assert.equal(r.headers['x-tern-cluster-secret'], undefined);
      assert.equal(typeof r.headers['x-tern-signature'], 'string', `${r.method} ${r.url} is signed`);
      if (r.url.startsWith('/v1/cluster/invoke/peek/') || r.url === '/v1/cluster/invoke/peek')
        assert.ok(!wireText(r).includes(a.token), 'nor is the token of a private call');
    }
  });

  test('a captured node-to-node request replayed verbatim is refused, and so is one altered', async () => {
    const replay = async (base: string, r: (typeof decoy.requests)[number]) => {
      const headers = Object.fromEntries(
        Object.entries(r.headers).filter(
          ([k, v]) => typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k),
        ),
      ) as Record<string, string>;
      return fetch(`${base}${r.url}`, { method: r.method, headers, ...(r.method === 'POST' ? { body: r.body } : {}) });
    };
    // Capture a forwarded call as it goes to B, then send it again.
    const first = invoke(a, 'slow', 'ms=2000&tag=capture');
    await busyOn(a, ['slow']);
    assert.equal((await invoke(a, 'slow', 'ms=0&tag=captured')).report?.node, B.name);
    await first;
    const call = proxies[B.name]!.requests.filter((r) => r.url === '/v1/cluster/invoke/slow').at(-1)!;
    const again = await replay(b.url, call);
    assert.equal(again.status, 403);
    assert.match(await errorOf(again), /already received.*replay/);
    const fetchOfA = proxies[A.name]!.requests.find((r) => r.url.startsWith('/v1/cluster/archive/'))!;
    assert.equal((await replay(a.url, fetchOfA)).status, 403, 'an archive fetch is not replayable either');
    const elsewhere = await replay(a.url, call);
    assert.equal(elsewhere.status, 403, 'nor is a call to B sent to A');
    assert.match(await errorOf(elsewhere), /signed for node "trust-b", not "trust-a"/);

    // Fresh requests signed as a node would (never sent as such), then changed on the way.
    const body = encodeInvocation(createInvocation({ function: 'peek-open', trigger: 'http', query: 'ms=0' }));
    const signed = (target: string, extra: { hops?: number; time?: number } = {}) =>
      signRequest(
        KEYS,
        { method: 'POST', target, from: A.name, to: B.name, body, hops: extra.hops ?? 1, path: A.name },
        extra.time,
      );
    const send = (target: string, headers: Record<string, string>, data: Buffer = body) =>
      fetch(`${b.url}${target}`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/x-tern-invocation' },
        body: data,
      });
    const target = '/v1/cluster/invoke/peek-open';

    const changedBody = await send(target, signed(target), Buffer.concat([body, Buffer.from('!')]));
    assert.equal(changedBody.status, 403);
    assert.match(await errorOf(changedBody), /body .* is not the one its signature covers/);
    const changedPath = await send('/v1/cluster/invoke/slow', signed(target));
    assert.equal(changedPath.status, 403);
    assert.match(await errorOf(changedPath), /signature .* does not verify/);
    const changedHops = await send(target, { ...signed(target), 'x-tern-hops': '0' });
    assert.equal(changedHops.status, 403);
    const stale = await send(target, signed(target, { time: Date.now() - 60_000 }));
    assert.equal(stale.status, 403);
    assert.match(await errorOf(stale), /more than ±30 s/);
    const intact = await send(target, signed(target));
    assert.equal(intact.status, 200, 'the same request unchanged is served');
  });

  test('a forged function record and a forged tombstone written into etcd are ignored', async () => {
    const key = functionKey('slow');
    const genuine = (await client.get(key).string())!;
    const record = parseFunctionRecord(genuine)!;
    assert.equal(record.deleted, false);
    const movedCode = { ...record, version: '0123456789abcdef', url: decoy.url, source: 'forged' };
    const tombstone = {
      name: 'slow',
      deleted: true,
      version: record.version,
      source: 'forged',
      deletedAt: new Date().toISOString(),
      seq: record.seq + 1,
      mac: 'A'.repeat(43),
    };
    await client.put(key).value(JSON.stringify(movedCode));
    await client.put(key).value(JSON.stringify(tombstone));
    await client.put(functionKey('evil')).value(JSON.stringify({ ...movedCode, name: 'evil' }));
    // A genuine record put after them (its code nowhere to fetch): the watch delivers in order, so a
    // node that tried to fetch it has seen the forgeries before it.
    const canary = signFunctionRecord(KEYS, {
      ...record,
      name: 'canary',
      url: 'http://127.0.0.1:9',
      source: 'canary',
      seq: 1,
    });
    await client.put(functionKey('canary')).value(JSON.stringify(canary));
    for (const node of [a, b])
      await waitForLog(node, (e) => e.event === 'cluster_deploy_retry' && e.function === 'canary', 'canary seen');
    await client.delete().key(functionKey('canary'));
    await client.put(key).value(genuine);
    for (const node of [a, b]) {
      const out = await invoke(node, 'slow', 'ms=0&tag=still');
      assert.equal(out.status, 200, out.body);
      const described = (await (await node.api('GET', '/v1/functions/slow')).json()) as { version: string };
      assert.equal(described.version, slowVersion);
      assert.equal((await node.api('GET', '/v1/functions/evil')).status, 404);
      assert.ok(!node.output().includes('"event":"cluster_remove"'), 'nothing was removed');
    }
    assert.equal(decoy.requests.length, 0, 'no node fetched code from where the forged record points');
    for (const node of [a, b])
      for (const bad of ['slow', 'evil'].map(functionKey))
        await waitForLog(node, (e) => e.event === 'registry_bad_record' && e.key === bad, `${bad} refused, said once`);
  });

  test('no node crashed or logged an unhandled error along the way', () => {
    for (const node of [a, b, w]) {
      assert.equal(node.proc.exitCode, null, 'still running');
      assert.doesNotMatch(node.output(), /Unhandled|uncaught|TypeError|ReferenceError/i);
    }
  });
});
