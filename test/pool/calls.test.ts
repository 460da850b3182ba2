/** Async calls: submit/poll, durable journal, recovery after a restart, limits. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, test } from 'node:test';
import { TernError } from '../../src/core/errors.js';
import { emptyReport } from '../../src/core/report.js';
import { deferred, deployedOf, FakeRuntime, ok } from './fake-runtime.js';
import { call, harness, type Harness } from './harness.js';

const open: Harness[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) await h.cleanup();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function start(o: Parameters<typeof harness>[0] = {}): Promise<Harness> {
  const h = await harness(o);
  open.push(h);
  return h;
}

/** The record is written in the same turn, right after callCompleted fires: let that turn finish. */
function settled(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tern-calls-test-'));
  dirs.push(d);
  return d;
}

test('submit records the call durably, runs it, and poll shows the result', async () => {
  const h = await start();
  h.runtime.set('job', { call: (inv) => ok(`did ${inv.body.toString()}`) });
  await h.scheduler.deployed(deployedOf('job'));
  const done = h.telemetry.waitFor((e) => e.type === 'completed');
  const inv = call('job', 'work');
  const accepted = await h.scheduler.submit(inv);
  assert.equal(accepted.id, inv.id);
  assert.equal(accepted.state, 'queued');
  assert.equal(accepted.function, 'job');
  const journal = await readFile(join(h.dir, 'calls', 'journal.jsonl'), 'utf8');
  assert.ok(
    journal.split('\n').some((l) => l.includes(inv.id) && l.includes('"queued"')),
    'on disk before submit resolved',
  );
  await done;
  await settled();
  const record = h.scheduler.call(inv.id, true)!;
  assert.equal(record.state, 'done');
  assert.equal(record.result!.status, 200);
  assert.equal(Buffer.from(record.result!.body, 'base64').toString(), 'did work');
  assert.equal(record.report!.function, 'job');
  assert.ok(record.finishedAt);
  assert.equal(h.scheduler.call('no-such-id', true), undefined);
});

test('a failing async call is recorded as failed with its error', async () => {
  const h = await start();
  h.runtime.set('bad', {
    call: () => {
      throw new TernError('function_error', 'boom');
    },
  });
  await h.scheduler.deployed(deployedOf('bad'));
  const done = h.telemetry.waitFor((e) => e.type === 'completed');
  const { id } = await h.scheduler.submit(call('bad'));
  await done;
  await settled();
  const record = h.scheduler.call(id, true)!;
  assert.equal(record.state, 'failed');
  assert.deepEqual(record.error, { code: 'function_error', message: 'boom' });
  assert.equal(record.result!.status, 502);
});

test('submit for an unknown function is refused with not_found', async () => {
  const h = await start();
  await assert.rejects(
    h.scheduler.submit(call('ghost')),
    (e: unknown) => e instanceof TernError && e.code === 'not_found',
  );
});

test('after a restart, a call that was running is marked failed; finished ones keep their result', async () => {
  const dir = await tempDir();
  const runtime = new FakeRuntime();
  const gate = deferred();
  runtime.set('job', {
    call: async (inv) => (inv.body.toString() === 'hang' ? await gate.promise : undefined, ok('fine')),
  });
  const first = await harness({ dir, runtime });
  await first.scheduler.deployed(deployedOf('job'));
  const finished = first.telemetry.waitFor((e) => e.type === 'completed');
  const quick = await first.scheduler.submit(call('job', 'quick'));
  await finished;
  await settled();
  const entered = runtime.callsEntered('job', 1);
  const stuck = await first.scheduler.submit(call('job', 'hang'));
  await entered;
  assert.equal(first.scheduler.call(stuck.id, true)!.state, 'running');

  // A second node process on the same data folder, as after a crash of the first.
  const second = await harness({ dir, runtime: new FakeRuntime() });
  const lost = second.scheduler.call(stuck.id, true)!;
  assert.equal(lost.state, 'failed');
  assert.deepEqual(lost.error, { code: 'unavailable', message: 'node restarted before the call finished' });
  const kept = second.scheduler.call(quick.id, true)!;
  assert.equal(kept.state, 'done');
  assert.equal(Buffer.from(kept.result!.body, 'base64').toString(), 'fine');

  await second.cleanup();
  gate.resolve();
  await first.cleanup();
});

test('on open, expired records are dropped and a torn last line is ignored', async () => {
  const dir = await tempDir();
  await mkdir(join(dir, 'calls'));
  const now = new Date().toISOString();
  const lines = [
    {
      id: 'old',
      function: 'f',
      state: 'done',
      createdAt: '2000-01-01T00:00:00.000Z',
      finishedAt: '2000-01-01T00:00:01.000Z',
    },
    { id: 'new', function: 'f', state: 'queued', createdAt: now },
    {
      id: 'new',
      function: 'f',
      state: 'done',
      createdAt: now,
      finishedAt: now,
      result: { status: 200, headers: {}, body: Buffer.from('hi').toString('base64') },
    },
  ].map((l) => JSON.stringify(l));
  await writeFile(join(dir, 'calls', 'journal.jsonl'), `${lines.join('\n')}\n{"id":"torn","func`);
  const h = await start({ dir });
  assert.equal(h.scheduler.call('old', true), undefined);
  assert.equal(h.scheduler.call('torn', true), undefined);
  assert.equal(h.scheduler.call('new', true)!.state, 'done');
  const compacted = (await readFile(join(dir, 'calls', 'journal.jsonl'), 'utf8')).trim().split('\n');
  assert.equal(compacted.length, 1, 'compacted on open');
});

test('the table holds at most calls.max: the oldest finished call goes first, unfinished ones are never dropped', async () => {
  const h = await start({ calls: { max: 2 } });
  const gate = deferred();
  h.runtime.set('job', {
    call: async (inv) => (inv.body.toString() === 'hang' ? await gate.promise : undefined, ok('x')),
  });
  await h.scheduler.deployed(deployedOf('job', { maxInstances: 4 }));
  const finished = h.telemetry.waitFor((e) => e.type === 'completed');
  const quick = await h.scheduler.submit(call('job', 'quick'));
  await finished;
  await settled();
  const hang1 = await h.scheduler.submit(call('job', 'hang'));
  const hang2 = await h.scheduler.submit(call('job', 'hang'));
  assert.equal(h.scheduler.call(quick.id, true), undefined, 'the finished call made room');
  await assert.rejects(
    h.scheduler.submit(call('job', 'hang')),
    (e: unknown) => e instanceof TernError && e.code === 'unavailable' && e.status === 503,
  );
  assert.ok(h.scheduler.call(hang1.id, true));
  assert.ok(h.scheduler.call(hang2.id, true));
  const both = h.telemetry.waitFor((e) => e.type === 'completed', 3);
  gate.resolve();
  await both;
  await settled();
  assert.equal(h.scheduler.call(hang1.id, true)!.state, 'done');
});

test('a result body over the stored limit fails the record with too_large', async () => {
  const h = await start({ calls: { maxBodyBytes: 4 } });
  h.runtime.set('big', { call: () => ok('more than four bytes') });
  await h.scheduler.deployed(deployedOf('big'));
  const done = h.telemetry.waitFor((e) => e.type === 'completed');
  const { id } = await h.scheduler.submit(call('big'));
  await done;
  await settled();
  const r = h.scheduler.call(id, true)!;
  assert.equal(r.state, 'failed');
  assert.equal(r.error!.code, 'too_large');
  assert.equal(r.result, undefined);
});

test('jobs (workflow runs): recorded like calls, kept unfinished over a restart for their owner, private ones stay private', async () => {
  const dir = await tempDir();
  const first = await harness({ dir });
  const gate = deferred();
  const result = (text: string) => ({ ...ok(text), report: emptyReport('test', 'wf') });
  const hanging = await first.scheduler.submitJob({
    id: 'job-hanging',
    name: 'wf',
    kind: 'workflow',
    private: true,
    run: async (running) => {
      running();
      await gate.promise;
      return undefined;
    },
  });
  assert.deepEqual([hanging.kind, hanging.function, hanging.private], ['workflow', 'wf', true]);
  const orphan = await first.scheduler.submitJob({
    id: 'job-orphan',
    name: 'wf',
    kind: 'workflow',
    private: false,
    run: () => gate.promise.then(() => undefined),
  });
  assert.equal(first.scheduler.call(orphan.id, false)!.state, 'queued');

  // A second node on the same data folder, as after a crash of the first.
  const second = await harness({ dir });
  assert.throws(
    () => second.scheduler.call('job-hanging', false),
    (e: unknown) => e instanceof TernError && e.code === 'unauthorized',
  );
  assert.equal(second.scheduler.call('job-hanging', true)!.state, 'running', 'not failed: its owner resumes it');
  const resumed = second.scheduler.resumeJobs('workflow', (record) =>
    record.id === 'job-hanging'
      ? { id: record.id, name: record.function, kind: 'workflow', private: true, run: async () => result('resumed') }
      : undefined,
  );
  assert.equal(resumed, 1);
  assert.equal(second.scheduler.call('job-orphan', true)!.state, 'failed', 'a job nobody resumes fails as interrupted');
  for (let i = 0; i < 100 && second.scheduler.call('job-hanging', true)!.state !== 'done'; i++) await settled();
  const done = second.scheduler.call('job-hanging', true)!;
  assert.equal(done.state, 'done');
  assert.equal(Buffer.from(done.result!.body, 'base64').toString(), 'resumed');

  await second.cleanup();
  gate.resolve();
  await first.cleanup();
});
