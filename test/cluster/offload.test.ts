/**
 * The offloader's choices and its fault rules, against small in-test peers on loopback that speak
 * Tern's node-to-node wire format (each one behaves one way: answers, refuses, dies mid-call, or
 * is not there at all). The real peers are covered by cluster.test.ts.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { after, describe, test } from 'node:test';
import { pino } from 'pino';
import { Offloader } from '../../src/cluster/offload.js';
import { createPeerAgent } from '../../src/cluster/peer-client.js';
import { ClusterKeys } from '../../src/cluster/keys.js';
import type { MemberRecord } from '../../src/cluster/records.js';
import {
  AUTHENTICATED_HEADER,
  LEGACY_SECRET_HEADER,
  RequestVerifier,
  SIGNATURE_HEADER,
} from '../../src/cluster/request-auth.js';
import { decodeInvocation, encodeResult, HOPS_HEADER, PATH_HEADER, RESULT_TYPE } from '../../src/cluster/wire.js';
import { TernError } from '../../src/core/errors.js';
import { createInvocation, type Invocation } from '../../src/core/invocation.js';
import { emptyReport } from '../../src/core/report.js';
import { errorResult } from '../../src/core/result.js';
import { normaliseSpec, type FunctionSpec } from '../../src/registry/spec.js';
import { freePort } from './etcd.js';

const SECRET = 'offload-test-secret-0123456789';
const KEYS = new ClusterKeys(SECRET);
const silent = pino({ enabled: false });

/** 'unsigned': runs the call but answers without the cluster's signature (as a forged answer would). */
type Behaviour = 'run' | 'refuse' | 'die' | 'unsigned';

interface Seen {
  hops: string;
  path: string;
  authenticated: boolean;
  headers: Record<string, string | string[] | undefined>;
  raw: string;
  inv: ReturnType<typeof decodeInvocation>;
}

function peer(
  name: string,
  role: 'edge' | 'cloud',
  area: string,
  url: string,
  load: Partial<MemberRecord['load']> = {},
  warm: string[] = [],
): MemberRecord {
  return {
    name,
    role,
    area,
    url,
    load: { freeMemoryMiB: 100, queued: 0, warm: 0, busy: 0, ...load },
    warmFunctions: warm,
    startedAt: '',
  };
}

describe('offloading', () => {
  const servers: Server[] = [];
  const agent = createPeerAgent();

  after(async () => {
    agent.destroy();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  /** A peer on loopback that checks the signed envelope as a node does, then behaves as told. */
  async function fakePeer(name: string, behaviour: Behaviour, seen: Seen[] = []): Promise<string> {
    const verifier = new RequestVerifier(KEYS, name);
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const data = Buffer.concat(chunks);
        let envelope;
        try {
          envelope = verifier.verify(req.method ?? '', req.url ?? '', req.headers);
          verifier.checkBody(envelope, data);
        } catch (e) {
          res.writeHead((e as TernError).status ?? 500).end((e as Error).message);
          return;
        }
        const inv = decodeInvocation(data);
        seen.push({
          hops: String(req.headers[HOPS_HEADER]),
          path: String(req.headers[PATH_HEADER]),
          authenticated: envelope.authenticated,
          headers: req.headers,
          raw: `${req.rawHeaders.join('\n')}\n${data.toString('latin1')}`,
          inv,
        });
        if (behaviour === 'die') {
          req.socket.destroy();
          return;
        }
        const report = { ...emptyReport(name, 'fn'), instance: behaviour === 'refuse' ? '' : `${name}-1` };
        const result =
          behaviour === 'refuse'
            ? errorResult(new TernError('queue_full', 'full'), report)
            : {
                status: 200,
                headers: { 'content-type': 'text/plain' },
                body: Buffer.from(`ran on ${name}: ${inv.body.toString()}`),
                report,
              };
        const payload = encodeResult(result);
        const signature =
          behaviour === 'unsigned' ? {} : { [SIGNATURE_HEADER]: verifier.signResponse(envelope, 200, payload) };
        res.writeHead(200, { 'content-type': RESULT_TYPE, ...signature }).end(payload);
      });
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  function offloader(
    peers: MemberRecord[],
    spec: Partial<Record<string, unknown>> = {},
    opts: { maxHops?: number; defaultPolicy?: FunctionSpec['offload'] } = {},
  ): Offloader {
    const fn = normaliseSpec({ name: 'fn', runtime: 'python', timeout: '5s', offload: 'edge-cloud', ...spec });
    return new Offloader({
      nodeName: 'self',
      role: 'edge',
      area: 'a',
      defaultPolicy: opts.defaultPolicy ?? 'none',
      maxHops: opts.maxHops ?? 2,
      queueWaitMs: 1_000,
      peers: () => peers,
      spec: (name) => (name === 'fn' ? fn : undefined),
      keys: KEYS,
      agent,
      logger: silent,
    });
  }

  const call = (init: Partial<Parameters<typeof createInvocation>[0]> = {}): Invocation =>
    createInvocation({ function: 'fn', trigger: 'http', method: 'POST', body: Buffer.from('payload'), ...init });
  const full = new TernError('queue_full', 'full here');

  test('candidates: edge neighbours of the same area first, least loaded first, then the cloud', () => {
    const peers = [
      peer('cloud-busy', 'cloud', 'x', 'http://c1', { queued: 5 }),
      peer('cloud-idle', 'cloud', 'y', 'http://c2'),
      peer('edge-busy', 'edge', 'a', 'http://e1', { busy: 2 }),
      peer('edge-warm', 'edge', 'a', 'http://e2', {}, ['fn']),
      peer('edge-cold', 'edge', 'a', 'http://e3'),
      peer('edge-elsewhere', 'edge', 'b', 'http://e4'),
    ];
    const o = offloader(peers);
    const names = (policy: 'edge' | 'cloud' | 'edge-cloud', visited: string[] = []) =>
      o.candidates(policy, new Set(visited), 'fn').map((p) => p.name);
    assert.deepEqual(names('edge-cloud'), ['edge-warm', 'edge-cold', 'edge-busy', 'cloud-idle', 'cloud-busy']);
    assert.deepEqual(names('edge'), ['edge-warm', 'edge-cold', 'edge-busy']);
    assert.deepEqual(names('cloud'), ['cloud-idle', 'cloud-busy']);
    assert.deepEqual(names('edge-cloud', ['edge-warm', 'cloud-idle']), ['edge-cold', 'edge-busy', 'cloud-busy']);
  });

  test('policy "none", the default policy and the hop limit keep the call here', async () => {
    const url = await fakePeer('p-none', 'run');
    const peers = [peer('p-none', 'edge', 'a', url)];
    assert.equal(await offloader(peers, { offload: 'none' }).offload(call(), full), undefined);
    assert.equal(
      await offloader(peers, { offload: undefined }).offload(call(), full),
      undefined,
      'the node default is none',
    );
    assert.ok(
      await offloader(peers, { offload: undefined }, { defaultPolicy: 'edge' }).offload(call(), full),
      'the node default applies',
    );
    assert.equal(await offloader(peers, {}, { maxHops: 1 }).offload(call({ hops: 1 }), full), undefined);
  });

  test('a forwarded call is signed (never the secret) and carries the invocation, its hop count and path; the report shows the hop', async () => {
    const seen: Seen[] = [];
    const url = await fakePeer('p-run', 'run', seen);
    const o = offloader([peer('p-run', 'edge', 'a', url)]);
    const inv = call({ path: '/x/y', query: 'a=1', headers: { 'x-custom': 'v' }, hops: 0 });
    const result = await o.offload(inv, full);
    assert.ok(result);
    assert.equal(result.status, 200);
    assert.equal(result.body.toString(), 'ran on p-run: payload');
    assert.equal(result.report.node, 'p-run');
    assert.equal(result.report.offloaded, true);
    assert.deepEqual(
      result.report.hops.map((h) => h.node),
      ['p-run'],
    );
    assert.ok(result.report.hops[0]!.ms > 0);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers[LEGACY_SECRET_HEADER], undefined);
    assert.ok(!seen[0]!.raw.includes(SECRET), 'the secret is never on the wire');
    assert.equal(typeof seen[0]!.headers[SIGNATURE_HEADER], 'string');
    assert.equal(seen[0]!.hops, '1');
    assert.equal(seen[0]!.path, 'self');
    assert.equal(seen[0]!.inv.meta.id, inv.id);
    assert.equal(seen[0]!.inv.meta.path, '/x/y');
    assert.equal(seen[0]!.inv.meta.query, 'a=1');
    assert.equal(seen[0]!.inv.meta.headers['x-custom'], 'v');
  });

  test('a refusing or unreachable peer is passed over for the next one', async () => {
    const refusing = await fakePeer('p-refuse', 'refuse');
    const running = await fakePeer('p-next', 'run');
    const gone = `http://127.0.0.1:${await freePort()}`;
    const o = offloader([
      peer('p-gone', 'edge', 'a', gone),
      peer('p-refuse', 'edge', 'a', refusing, { queued: 1 }),
      peer('p-next', 'cloud', 'z', running),
    ]);
    const result = await o.offload(call(), full);
    assert.equal(result?.report.node, 'p-next');
    assert.deepEqual(
      result?.report.hops.map((h) => h.node),
      ['p-next'],
    );
  });

  test('every peer refusing leaves the local refusal', async () => {
    const refusing = await fakePeer('p-refuse2', 'refuse');
    const o = offloader([peer('p-refuse2', 'edge', 'a', refusing)]);
    assert.equal(await o.offload(call(), full), undefined);
  });

  test('a peer dying mid-call: a clear 503 for a non-idempotent function, a retry elsewhere for an idempotent one', async () => {
    const dying: Seen[] = [];
    const next: Seen[] = [];
    const dies = await fakePeer('p-dies', 'die', dying);
    const runs = await fakePeer('p-runs', 'run', next);
    const peers = [peer('p-dies', 'edge', 'a', dies), peer('p-runs', 'cloud', 'z', runs)];

    const once = await offloader(peers).offload(call(), full);
    assert.ok(once);
    assert.equal(once.status, 503);
    const error = (JSON.parse(once.body.toString()) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'unavailable');
    assert.match(error.message, /peer p-dies failed mid-call .*not retried because the function is not idempotent/);
    assert.equal(once.report.offloaded, true);
    assert.deepEqual(
      once.report.hops.map((h) => h.node),
      ['p-dies'],
    );
    assert.equal(next.length, 0, 'never run a second time');

    const retried = await offloader(peers, { idempotent: true }).offload(call(), full);
    assert.equal(retried?.status, 200);
    assert.equal(retried?.report.node, 'p-runs');
    assert.equal(next.length, 1);
  });

  test("a private function: the caller's token stays on this node, the signed envelope vouches for the caller", async () => {
    const seen: Seen[] = [];
    const url = await fakePeer('p-private', 'run', seen);
    const headers = { authorization: 'Bearer the-node-token-0123456789', 'x-custom': 'v', [LEGACY_SECRET_HEADER]: 'x' };
    const result = await offloader([peer('p-private', 'edge', 'a', url)], { private: true }).offload(
      call({ headers }),
      full,
    );
    assert.equal(result?.status, 200);
    assert.equal(seen[0]!.inv.meta.headers.authorization, undefined, 'no Authorization in the forwarded call');
    assert.equal(seen[0]!.inv.meta.headers[LEGACY_SECRET_HEADER], undefined);
    assert.equal(seen[0]!.inv.meta.headers['x-custom'], 'v');
    assert.ok(!seen[0]!.raw.includes('the-node-token'), 'the token is nowhere on the wire');
    assert.equal(seen[0]!.headers[AUTHENTICATED_HEADER], '1');
    assert.equal(seen[0]!.authenticated, true, 'covered by the signature');

    const open: Seen[] = [];
    const publicUrl = await fakePeer('p-public', 'run', open);
    const own = { authorization: 'Bearer the-callers-own' };
    await offloader([peer('p-public', 'edge', 'a', publicUrl)]).offload(call({ headers: own }), full);
    assert.equal(open[0]!.inv.meta.headers.authorization, 'Bearer the-callers-own', 'a public function gets it');
    assert.equal(open[0]!.authenticated, false);
  });

  test("an answer without the peer's signature counts as a call that may have run there", async () => {
    const unsigned: Seen[] = [];
    const next: Seen[] = [];
    const forged = await fakePeer('p-unsigned', 'unsigned', unsigned);
    const runs = await fakePeer('p-after', 'run', next);
    const peers = [peer('p-unsigned', 'edge', 'a', forged), peer('p-after', 'cloud', 'z', runs)];
    const once = await offloader(peers).offload(call(), full);
    assert.equal(once?.status, 503);
    assert.match(once!.body.toString(), /not signed by p-unsigned/);
    assert.equal(next.length, 0, 'not believed, and not run a second time');
    const retried = await offloader(peers, { idempotent: true }).offload(call(), full);
    assert.equal(retried?.report.node, 'p-after');
  });

  test('a peer that is not the node the call was signed for refuses it', async () => {
    const seen: Seen[] = [];
    const url = await fakePeer('p-real-name', 'run', seen);
    // The member record names another node at that URL: the peer there refuses (403), nothing runs.
    const result = await offloader([peer('p-other-name', 'edge', 'a', url)], { idempotent: true }).offload(
      call(),
      full,
    );
    assert.equal(result, undefined);
    assert.equal(seen.length, 0);
  });
});
