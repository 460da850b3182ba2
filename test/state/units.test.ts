/**
 * The state pieces on their own: the local tier and its shared segments, locks, the files of the
 * embedded tier, chaining's depth rule and children, and the deploy check of `tern` imports.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { pino } from 'pino';
import { isTernError } from '../../src/core/errors.js';
import { createInvocation, type Invocation } from '../../src/core/invocation.js';
import { emptyReport } from '../../src/core/report.js';
import type { Result } from '../../src/core/result.js';
import { normaliseSpec } from '../../src/registry/spec.js';
import { compileFunction } from '../../src/runtimes/wasm/prepare.js';
import { Chaining } from '../../src/state/chain.js';
import { checkKey } from '../../src/state/keys.js';
import { DEFAULT_STATE_LIMITS } from '../../src/state/limits.js';
import { LocalTier } from '../../src/state/local.js';
import { LocalLocks } from '../../src/state/locks.js';
import { readSegment, READ_STALE, wrapSegment } from '../../src/core/segment.js';
import { StateService } from '../../src/state/service.js';
import { buildModules, FIXTURES } from './helpers.js';

const quiet = pino({ level: 'silent' });
const code = (c: string) => (e: unknown) => isTernError(e) && e.code === c;

describe('local tier', () => {
  test('get, partial read, write at an offset, append, delete', () => {
    const t = new LocalTier(DEFAULT_STATE_LIMITS);
    t.set('k', Buffer.from('hello'));
    assert.equal(t.get('k')?.toString(), 'hello');
    assert.equal(t.read('k', 1, 3)?.toString(), 'ell');
    assert.equal(t.read('k', 3, 100)?.toString(), 'lo');
    assert.equal(t.read('k', 5, 1)?.toString(), '');
    assert.throws(() => t.read('k', 6, 1), code('bad_request'));
    assert.equal(t.write('k', 4, Buffer.from('O world')), 11);
    assert.equal(t.get('k')?.toString(), 'hellO world');
    assert.throws(() => t.write('k', 12, Buffer.from('gap')), code('bad_request'));
    assert.equal(t.append('k', Buffer.from('!')), 12);
    assert.equal(t.append('new', Buffer.from('a')), 1);
    assert.equal(t.size('k'), 12);
    assert.equal(t.delete('k'), true);
    assert.equal(t.delete('k'), false);
    assert.equal(t.get('k'), undefined);
  });

  test('bounds: value size, key count, reserved bytes; a refused write changes nothing', () => {
    const t = new LocalTier({ maxValueBytes: 1000, maxKeys: 2, maxTotalBytes: 2048 });
    assert.throws(() => t.set('a', Buffer.alloc(1001)), code('too_large'));
    t.set('a', Buffer.alloc(1000, 1));
    t.set('b', Buffer.from('b'));
    assert.throws(() => t.set('c', Buffer.from('c')), code('no_capacity'));
    assert.throws(() => t.append('a', Buffer.from('x')), code('too_large'));
    assert.equal(t.size('a'), 1000);
    assert.equal(t.keyCount, 2);
    const tight = new LocalTier({ maxValueBytes: 4096, maxKeys: 10, maxTotalBytes: 1024 });
    tight.set('x', Buffer.alloc(1000));
    assert.throws(() => tight.set('y', Buffer.alloc(100)), code('no_capacity'));
    assert.equal(tight.get('y'), undefined);
  });

  test('segments: readers see in-place writes, and a moved or deleted value marks the old segment stale', () => {
    const t = new LocalTier(DEFAULT_STATE_LIMITS);
    t.set('k', Buffer.from('abcd'));
    const seg = wrapSegment(t.segment('k')!);
    const into = new Uint8Array(8);
    assert.equal(readSegment(seg, 0, into), 4);
    assert.equal(Buffer.from(into.subarray(0, 4)).toString(), 'abcd');
    t.set('k', Buffer.from('wxyz'));
    assert.equal(readSegment(seg, 1, into), 4);
    assert.equal(Buffer.from(into.subarray(0, 3)).toString(), 'xyz');
    t.set('k', Buffer.alloc(10_000, 0x41));
    assert.equal(readSegment(seg, 0, into), READ_STALE);
    const moved = wrapSegment(t.segment('k')!);
    assert.equal(readSegment(moved, 0, into), 10_000);
    t.delete('k');
    assert.equal(readSegment(moved, 0, into), READ_STALE);
  });

  test('a worker thread reads a segment in place while the main thread rewrites it', async () => {
    const t = new LocalTier(DEFAULT_STATE_LIMITS);
    t.set('k', Buffer.alloc(4096, 'a'));
    const segmentUrl = new URL('../../src/core/segment.js', import.meta.url).href;
    // The worker checks every read is one whole value (all 'a' or all 'b'), never a torn mix.
    const worker = new Worker(
      `const { workerData, parentPort } = require('node:worker_threads');
       import(workerData.url).then(({ wrapSegment, readSegment }) => {
         const seg = wrapSegment(workerData.sab);
         const into = new Uint8Array(4096);
         let reads = 0, torn = 0, contended = 0;
         const until = Date.now() + 300;
         while (Date.now() < until) {
           const n = readSegment(seg, 0, into);
           if (n < 0) { contended++; continue; }
           reads++;
           const first = into[0];
           if (!into.every((b) => b === first)) torn++;
         }
         parentPort.postMessage({ reads, torn, contended });
       });`,
      { eval: true, workerData: { url: segmentUrl, sab: t.segment('k') } },
    );
    const result = new Promise<{ reads: number; torn: number }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    let flip = false;
    const writer = setInterval(() => {
      for (let i = 0; i < 50; i++) {
        flip = !flip;
        t.set('k', Buffer.alloc(4096, flip ? 'b' : 'a'));
      }
    }, 1);
    const { reads, torn } = await result;
    clearInterval(writer);
    await worker.terminate();
    assert.ok(reads > 0);
    assert.equal(torn, 0);
  });

  test('keys: the documented rule', () => {
    for (const good of ['a', 'users/alice', 'x.y:z@1+2=3-4_5', 'A'.repeat(250)]) assert.equal(checkKey(good), good);
    for (const bad of ['', '.hidden', '/abs', 'sp ace', 'q?x', 'A'.repeat(251), 'ü'])
      assert.throws(() => checkKey(bad), code('bad_request'));
  });
});

describe('local locks', () => {
  test('one holder, waiters in order, a bounded wait, and a call end frees what it holds or waits for', async () => {
    const locks = new LocalLocks(200);
    await locks.lock('k', 'c1');
    await locks.lock('k', 'c1');
    const order: string[] = [];
    const second = locks.lock('k', 'c2').then(() => order.push('c2'));
    const third = locks.lock('k', 'c3').then(() => order.push('c3'));
    assert.throws(() => locks.unlock('k', 'c2'), code('bad_request'));
    locks.unlock('k', 'c1');
    await second;
    assert.equal(locks.holder('k'), 'c2');
    locks.releaseAll('c2');
    await third;
    assert.deepEqual(order, ['c2', 'c3']);
    await assert.rejects(
      locks.lock('k', 'c4'),
      (e: unknown) => code('conflict')(e) && /not acquired within 200 ms/.test((e as Error).message),
    );
    const waiting = locks.lock('k', 'c5');
    locks.releaseAll('c5');
    await assert.rejects(waiting, code('conflict'));
    locks.releaseAll('c3');
    assert.equal(locks.holder('k'), undefined);
  });
});

describe('embedded tier files', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tern-state-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('values come back after close and open; temp leftovers and foreign files are dropped', async () => {
    const limits = DEFAULT_STATE_LIMITS;
    const first = await StateService.open({ dataDir: dir, limits, logger: quiet });
    first.set('a', Buffer.from('one'));
    first.set('b', Buffer.from('two'));
    first.append('b', Buffer.from('+'));
    first.set('gone', Buffer.from('x'));
    first.delete('gone');
    await first.close();
    const files = await readdir(join(dir, 'state'));
    assert.equal(files.length, 2);
    await writeFile(join(dir, 'state', `${files[0]}.tmp-dead`), 'half');
    await writeFile(join(dir, 'state', 'junk.val'), 'not a state file');
    const second = await StateService.open({ dataDir: dir, limits, logger: quiet });
    assert.equal(second.get('a')?.toString(), 'one');
    assert.equal(second.get('b')?.toString(), 'two+');
    assert.equal(second.get('gone'), undefined);
    assert.equal(second.info().keys, 2);
    assert.ok(!(await readdir(join(dir, 'state'))).some((f) => f.includes('.tmp-')));
    // Without Redis, push makes a value durable at once and pull finds the local value.
    second.set('c', Buffer.from('three'));
    await second.push('c');
    assert.equal(await second.pull('c'), true);
    assert.equal(await second.pull('nope'), false);
    assert.equal((await readdir(join(dir, 'state'))).filter((f) => f.endsWith('.val') && f !== 'junk.val').length, 3);
    await second.close();
  });
});

describe('chaining', () => {
  const parent = (depth: number): Invocation => ({ ...createInvocation({ function: 'p', trigger: 'http' }), depth });
  const answer = (status: number): Result => ({
    status,
    headers: {},
    body: Buffer.from('ok'),
    report: emptyReport('n', 'c'),
  });

  test('the child is a chain invocation one level deeper; past the limit it is refused before scheduling', async () => {
    const seen: Invocation[] = [];
    const chain = new Chaining({ nodeName: 'n', maxDepth: 2 });
    chain.bind({ invoke: async (inv) => (seen.push(inv), answer(201)) });
    const p = parent(1);
    const r = await chain.invoke(p, 'child', Buffer.from('in'), { path: '/x?y=1', headers: { 'X-A': 'b' } });
    assert.equal(r.status, 201);
    assert.equal(seen.length, 1);
    assert.deepEqual(
      [
        seen[0]!.trigger,
        seen[0]!.depth,
        seen[0]!.parent,
        seen[0]!.function,
        seen[0]!.path,
        seen[0]!.query,
        seen[0]!.headers['x-a'],
        seen[0]!.method,
      ],
      ['chain', 2, p.id, 'child', '/x', 'y=1', 'b', 'POST'],
    );
    const deep = parent(2);
    const refused = await chain.invoke(deep, 'child', Buffer.alloc(0));
    assert.equal(refused.status, 400);
    assert.match(refused.body.toString(), /chain depth limit 2 reached: p \(depth 2\) cannot call child/);
    assert.equal(seen.length, 1);
    assert.equal((await chain.invoke(p, 'Bad Name', Buffer.alloc(0))).status, 400);
    assert.deepEqual(
      chain.take(p.id)?.map((c) => [c.function, c.status]),
      [
        ['child', 201],
        ['Bad Name', 400],
      ],
    );
    assert.equal(chain.take(p.id), undefined);
    assert.deepEqual(
      chain.take(deep.id)?.map((c) => c.status),
      [400],
    );
  });
});

describe('wasm deploy check of tern imports', () => {
  before(() => buildModules());
  const spec = (handler: string) => normaliseSpec({ name: 'x', runtime: 'wasm', handler });

  test('a wrong signature or an unknown name is refused with bad_spec naming it', async () => {
    await assert.rejects(
      compileFunction(spec('bad-signature.wasm'), join(FIXTURES, 'build')),
      (e: unknown) =>
        code('bad_spec')(e) &&
        /tern\.state_get as \(i32, i32\) -> \(i32\), but it is \(i32, i32, i32, i32\) -> \(i32\)/.test(
          (e as Error).message,
        ),
    );
    await assert.rejects(
      compileFunction(spec('unknown-name.wasm'), join(FIXTURES, 'build')),
      (e: unknown) => code('bad_spec')(e) && /tern\.teleport, which Tern does not provide/.test((e as Error).message),
    );
    const ok = await compileFunction(spec('rmw.wasm'), join(FIXTURES, 'rmw'));
    assert.equal(ok.usesHost, true);
  });
});
