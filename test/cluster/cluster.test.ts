/**
 * A real 3-node cluster on loopback: one etcd, two edge nodes in area "a" (no queue, one
 * instance of the slow function each) and one cloud node. The tests run in order on the same
 * cluster: shared registry, membership, offloading, the node-to-node routes' guards, then faults
 * (a node killed mid-load, its restart, an etcd outage).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { TernProcess } from '../helpers/node.js';
import {
  deployFixture,
  EDGE_CONFIG,
  busyOn,
  invoke,
  removeScratch,
  signedFetch,
  startEtcd,
  startNode,
  waitDeployed,
  waitMembers,
  type CallOutcome,
  type EtcdServer,
  type NodeSpec,
} from './harness.js';

// Room for one instance of each slow function and each one's python zygote (a zygote takes one
// instance's memory from the budget: docs/runtime-process.md).
const EDGE_ARGS = ['--config', EDGE_CONFIG, '--memory-budget', '128'];
const A: NodeSpec = { name: 'edge-a1', role: 'edge', area: 'a', args: EDGE_ARGS };
const B: NodeSpec = { name: 'edge-a2', role: 'edge', area: 'a', args: EDGE_ARGS };
const C: NodeSpec = { name: 'cloud-1', role: 'cloud', area: 'cloud' };
const ALL = [A.name, B.name, C.name];

describe('a 3-node cluster on one etcd', { timeout: 600_000 }, () => {
  let etcd: EtcdServer;
  let a: TernProcess;
  let b: TernProcess;
  let c: TernProcess;
  const extra: TernProcess[] = [];
  let slowVersion = '';
  let idempotentVersion = '';

  before(async () => {
    etcd = await startEtcd();
    [a, b, c] = await Promise.all([startNode(etcd, A), startNode(etcd, B), startNode(etcd, C)]);
  });

  after(async () => {
    await Promise.allSettled([a, b, c, ...extra].filter(Boolean).map((n) => n.stop({ cleanup: true })));
    await Promise.allSettled([a, b, c, ...extra].filter(Boolean).map((n) => removeScratch(n)));
    await etcd?.stop();
  });

  test('every node sees the three members with their role and load', async () => {
    const list = await waitMembers(a, ALL);
    const self = list.find((m) => m.self);
    assert.equal(self?.name, A.name);
    assert.deepEqual(
      list.map((m) => [m.name, m.role, m.area]),
      [
        [C.name, 'cloud', 'cloud'],
        [A.name, 'edge', 'a'],
        [B.name, 'edge', 'a'],
      ],
    );
    for (const m of list) {
      assert.match(m.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(typeof m.load.freeMemoryMiB, 'number');
      assert.equal(m.load.queued, 0);
    }
    await waitMembers(c, ALL);
  });

  test('a function deployed on one node runs on every node, at the same version', async () => {
    const [waitB, waitC] = [b, c].map((n) => (v: string) => waitDeployed(n, 'slow', v));
    slowVersion = await deployFixture(a, 'slow');
    await Promise.all([waitB!(slowVersion), waitC!(slowVersion)]);
    idempotentVersion = await deployFixture(b, 'slow-idempotent');
    await Promise.all([a, c].map((n) => waitDeployed(n, 'slow-idempotent', idempotentVersion)));

    for (const node of [a, b, c]) {
      const res = await node.api('GET', '/v1/functions/slow');
      assert.equal(res.status, 200);
      assert.equal(((await res.json()) as { version: string }).version, slowVersion);
    }
    for (const [node, spec] of [
      [a, A],
      [b, B],
      [c, C],
    ] as const) {
      const out = await invoke(node, 'slow', 'ms=0&tag=hello');
      assert.equal(out.status, 200, out.body);
      assert.deepEqual(JSON.parse(out.body), { slept: 0, tag: 'hello' });
      assert.equal(out.report?.node, spec.name);
      assert.equal(out.report?.offloaded, false);
    }
  });

  test('a saturated edge node offloads to its edge neighbour, then to the cloud', async () => {
    // One instance, no queue: of three overlapping calls, A runs one, B the next, the cloud the last.
    const calls = await Promise.all([1, 2, 3].map((i) => invoke(a, 'slow', `ms=4000&tag=${i}`)));
    for (const out of calls) assert.equal(out.status, 200, out.body);
    const ranOn = calls.map((out) => out.report!.node).sort();
    assert.deepEqual(ranOn, [C.name, A.name, B.name].sort());

    const local = calls.find((out) => out.report!.node === A.name)!;
    assert.equal(local.report!.offloaded, false);
    assert.deepEqual(local.report!.hops, []);

    const onB = calls.find((out) => out.report!.node === B.name)!;
    assert.equal(onB.report!.offloaded, true);
    assert.deepEqual(
      onB.report!.hops.map((h) => h.node),
      [B.name],
    );

    const onCloud = calls.find((out) => out.report!.node === C.name)!;
    assert.equal(onCloud.report!.offloaded, true);
    // Through B (B full, forwards on) or straight from A after B refused: either way the cloud ran it.
    assert.equal(onCloud.report!.hops.at(-1)!.node, C.name);
    assert.ok(onCloud.report!.hops.length <= 2);
    for (const out of [onB, onCloud])
      for (const hop of out.report!.hops) assert.ok(hop.ms > 0, 'each hop has its latency');
  });

  test('node-to-node routes refuse a call that is not signed with the cluster key', async () => {
    const target = '/v1/cluster/invoke/slow';
    const headers = { 'content-type': 'application/x-tern-invocation', 'x-tern-hops': '1', 'x-tern-path': A.name };
    const none = await fetch(`${b.url}${target}`, { method: 'POST', headers, body: Buffer.alloc(8) });
    assert.equal(none.status, 401);
    // The old scheme's header is no key: the secret itself opens nothing.
    const secretHeader = await fetch(`${b.url}${target}`, {
      method: 'POST',
      headers: { ...headers, 'x-tern-cluster-secret': 'cluster-secret-0123456789abcdef' },
      body: Buffer.alloc(8),
    });
    assert.equal(secretHeader.status, 401);
    // The management token is not the cluster key.
    const token = await fetch(`${b.url}${target}`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${b.token}` },
      body: Buffer.alloc(8),
    });
    assert.equal(token.status, 401);
    const archive = await fetch(`${a.url}/v1/cluster/archive/slow?version=${slowVersion}`);
    assert.equal(archive.status, 401);
    const fetched = await signedFetch(a.url, {
      method: 'GET',
      target: `/v1/cluster/archive/slow?version=${slowVersion}`,
      to: A.name,
    });
    assert.equal(fetched.status, 200);
    assert.equal(fetched.headers.get('x-tern-version'), slowVersion);
  });

  test('the hop limit and the path are respected', async () => {
    const { encodeInvocation } = await import('../../src/cluster/wire.js');
    const { createInvocation } = await import('../../src/core/invocation.js');
    const { decodeResult } = await import('../../src/cluster/wire.js');
    const frame = (query: string) => encodeInvocation(createInvocation({ function: 'slow', trigger: 'http', query }));
    const send = (hops: number, path: string, query = 'ms=0') =>
      signedFetch(b.url, {
        method: 'POST',
        target: '/v1/cluster/invoke/slow',
        to: B.name,
        hops,
        path,
        body: frame(query),
        headers: { 'content-type': 'application/x-tern-invocation' },
      });

    const over = await send(3, `${A.name},${C.name}`);
    assert.equal(over.status, 400, 'max-hops is 2');
    const loop = await send(1, `${A.name},${B.name}`);
    assert.equal(loop.status, 409, 'never back to a node already on the path');

    // B busy with one long call; a call that has used every hop must not be forwarded again.
    const busy = invoke(b, 'slow', 'ms=3000');
    await busyOn(b, ['slow']);
    const lastHop = await send(2, `${A.name},${C.name}`);
    assert.equal(lastHop.status, 200);
    const result = decodeResult(Buffer.from(await lastHop.arrayBuffer()));
    if (result.status === 200) {
      // The long call had already finished on a very slow machine: it ran here, still not forwarded.
      assert.equal(result.report.node, B.name);
    } else {
      assert.equal(result.status, 429);
      assert.equal(result.report.error, 'queue_full');
    }
    assert.equal(result.report.offloaded, false);
    assert.deepEqual(result.report.hops, []);
    assert.equal((await busy).status, 200);
  });

  test('killing a node mid-load loses no accepted call', async (t) => {
    // A runs one call of each function; the next call of each spills over to B; B dies mid-call.
    const onA = [invoke(a, 'slow', 'ms=8000&tag=a'), invoke(a, 'slow-idempotent', 'ms=8000&tag=a')];
    await busyOn(a, ['slow', 'slow-idempotent']);
    const viaB = [invoke(a, 'slow', 'ms=8000&tag=b'), invoke(a, 'slow-idempotent', 'ms=8000&tag=b')];
    await busyOn(b, ['slow', 'slow-idempotent']);
    await b.stop({ signal: 'SIGKILL' });
    await removeScratch(b);
    const outcomes: CallOutcome[] = await Promise.all([...onA, ...viaB]);
    t.diagnostic(
      outcomes
        .map(
          (o) =>
            `${o.status} ${o.report?.node ?? '-'} [${o.report?.hops.map((h) => h.node).join('>') ?? ''}] ${o.report?.error ?? ''}`,
        )
        .join('; '),
    );

    const [slowA, idemA, slowB, idemB] = outcomes as [CallOutcome, CallOutcome, CallOutcome, CallOutcome];
    for (const out of [slowA, idemA]) {
      assert.equal(out.status, 200, out.body);
      assert.equal(out.report?.node, A.name);
    }
    // Not idempotent: it may have run on B, so it is not run again; the caller is told so.
    assert.equal(slowB.status, 503, slowB.body);
    const error = (JSON.parse(slowB.body) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'unavailable');
    assert.match(
      error.message,
      new RegExp(`peer ${B.name} failed mid-call.*not retried because the function is not idempotent`),
    );
    assert.equal(slowB.report?.error, 'unavailable');
    assert.deepEqual(
      slowB.report?.hops.map((h) => h.node),
      [B.name],
    );
    // Idempotent: retried on the next candidate, the cloud.
    assert.equal(idemB.status, 200, idemB.body);
    assert.equal(idemB.report?.node, C.name);
    assert.deepEqual(JSON.parse(idemB.body), { slept: 8000, tag: 'b' });

    // B's lease runs out: no member lists it, and calls stop going there.
    await waitMembers(a, [A.name, C.name]);
    const afterDeath = await Promise.all([1, 2].map((i) => invoke(a, 'slow', `ms=1500&tag=d${i}`)));
    for (const out of afterDeath) {
      assert.equal(out.status, 200, out.body);
      assert.ok(!out.report!.hops.some((h) => h.node === B.name));
    }
  });

  test('a restarted node rejoins and serves what it had', async () => {
    b = await startNode(etcd, { ...B, data: b.data });
    await waitMembers(a, ALL);
    const out = await invoke(b, 'slow', 'ms=0&tag=back');
    assert.equal(out.status, 200, out.body);
    assert.equal(out.report?.node, B.name);
    const res = await b.api('GET', '/v1/functions/slow');
    assert.equal(((await res.json()) as { version: string }).version, slowVersion);
  });

  test('an etcd outage: nodes keep serving, then re-register and share deploys again', async () => {
    await etcd.pause();
    const during = await invoke(a, 'slow', 'ms=0&tag=outage');
    assert.equal(during.status, 200, during.body);
    // etcd comes back empty (it lost its data): leases and records are gone, nodes put them back.
    await etcd.restart({ fresh: true });
    await waitMembers(c, ALL, 60_000);
    const version = await deployFixture(c, 'echo');
    await Promise.all([a, b].map((n) => waitDeployed(n, 'echo', version)));
    // What the nodes had before the outage is published again, so a node joining now gets it.
    const late = await startNode(etcd, { name: 'edge-a3', role: 'edge', area: 'a', args: EDGE_ARGS });
    extra.push(late);
    await waitDeployed(late, 'slow', slowVersion);
    const out = await invoke(late, 'slow', 'ms=0');
    assert.equal(out.status, 200, out.body);
  });

  test('no node crashed or logged an unhandled error along the way', () => {
    for (const node of [a, b, c, ...extra]) {
      assert.equal(node.proc.exitCode, null, 'still running');
      assert.doesNotMatch(node.output(), /Unhandled|uncaught|TypeError|ReferenceError/i);
    }
  });
});
