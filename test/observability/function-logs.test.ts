import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { TernError } from '../../src/core/errors.js';
import {
  FunctionLogs,
  functionOfInstance,
  type FunctionLogsOptions,
  type LogEntry,
} from '../../src/observability/function-logs.js';
import { MAX_LINE_CHARS, TRUNCATED_MARKER } from '../../src/observability/log-entry.js';

let dir: string;
const opened: FunctionLogs[] = [];

async function store(opts: Partial<FunctionLogsOptions> = {}): Promise<FunctionLogs> {
  const logs = new FunctionLogs({ dir, maxLines: 100, ...opts });
  await logs.open();
  opened.push(logs);
  return logs;
}

function lines(entries: LogEntry[]): string[] {
  return entries.map((e) => e.line);
}

function fileLines(text: string): number {
  return text.split('\n').filter((l) => l !== '').length;
}

/** Resolves once the clock shows a later millisecond than `iso`, so `since` can split two batches. */
async function clockPast(iso: string): Promise<void> {
  while (new Date().toISOString() <= iso) await new Promise((resolve) => setImmediate(resolve));
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tern-logs-test-'));
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close()));
  await rm(dir, { recursive: true, force: true });
});

describe('FunctionLogs', () => {
  test('append then read: every field, oldest first, per function', async () => {
    const logs = await store();
    logs.append('hello', 'first', 'stdout', 'hello-1', 'call-a');
    logs.append('hello', 'oops', 'stderr', 'hello-1');
    logs.append('other', 'not mine', 'stdout', 'other-1');
    const got = await logs.read('hello');
    assert.equal(got.length, 2);
    assert.deepEqual(
      { ...got[0], time: undefined },
      { time: undefined, fn: 'hello', instance: 'hello-1', call: 'call-a', stream: 'stdout', line: 'first' },
    );
    assert.deepEqual(
      { ...got[1], time: undefined },
      { time: undefined, fn: 'hello', instance: 'hello-1', stream: 'stderr', line: 'oops' },
    );
    assert.ok(!Number.isNaN(Date.parse(got[0]!.time)));
    assert.deepEqual(lines(await logs.read('other')), ['not mine']);
    assert.deepEqual(await logs.read('nobody'), []);
  });

  test('the shared sink routes lines by the pool instance id; sinkFor binds a function', async () => {
    assert.equal(functionOfInstance('my-func-1z'), 'my-func');
    assert.equal(functionOfInstance('noseq'), undefined);
    const logs = await store();
    logs.sink('via sink', 'stdout', 'my-func-1z', 'c1');
    logs.sink('dropped', 'stdout', 'NOT_A_NAME-1');
    logs.sinkFor('bound')('via sinkFor', 'stderr', 'whatever');
    assert.deepEqual(lines(await logs.read('my-func')), ['via sink']);
    assert.deepEqual(lines(await logs.read('bound')), ['via sinkFor']);
  });

  test('tail and since, from memory and from disk', async () => {
    // memoryLines 3 forces reads of more than 3 lines to the files.
    const logs = await store({ memoryLines: 3 });
    for (let i = 0; i < 5; i++) logs.append('fn', `old-${i}`, 'stdout', 'fn-1');
    const [last] = await logs.read('fn', { tail: 1 });
    await clockPast(last!.time);
    const since = new Date();
    for (let i = 0; i < 5; i++) logs.append('fn', `new-${i}`, 'stdout', 'fn-1');

    assert.deepEqual(lines(await logs.read('fn', { tail: 2 })), ['new-3', 'new-4']);
    assert.deepEqual(lines(await logs.read('fn', { tail: 7 })), [
      'old-3',
      'old-4',
      'new-0',
      'new-1',
      'new-2',
      'new-3',
      'new-4',
    ]);
    assert.deepEqual(lines(await logs.read('fn', { since })), ['new-0', 'new-1', 'new-2', 'new-3', 'new-4']);
    assert.deepEqual(lines(await logs.read('fn', { since, tail: 2 })), ['new-3', 'new-4']);
    assert.equal((await logs.read('fn')).length, 10);
    assert.deepEqual(await logs.read('fn', { tail: 0 }), []);
    assert.deepEqual(await logs.read('fn', { since: new Date(Date.now() + 60_000) }), []);
  });

  test('follow delivers lines appended after it began, until unfollowed', async () => {
    const logs = await store();
    logs.append('fn', 'before', 'stdout', 'fn-1');
    const seen: string[] = [];
    const next = new Promise<LogEntry>((resolve) => {
      const unfollow = logs.follow('fn', (e) => {
        seen.push(e.line);
        resolve(e);
        unfollow();
      });
    });
    logs.append('fn', 'after', 'stderr', 'fn-2', 'c9');
    const entry = await next;
    assert.equal(entry.line, 'after');
    assert.equal(entry.call, 'c9');
    logs.append('fn', 'unfollowed', 'stdout', 'fn-2');
    assert.deepEqual(seen, ['after']);
  });

  test('followers per function are bounded; a throwing follower does not stop logging', async () => {
    const logs = await store({ maxFollowers: 2 });
    const stop1 = logs.follow('fn', () => {
      throw new Error('broken follower');
    });
    logs.follow('fn', () => {});
    assert.throws(
      () => logs.follow('fn', () => {}),
      (e: unknown) => e instanceof TernError && e.code === 'queue_full',
    );
    logs.follow('other', () => {});
    stop1();
    logs.follow('fn', () => {});
    logs.append('fn', 'still logged', 'stdout', 'fn-1');
    assert.deepEqual(lines(await logs.read('fn')), ['still logged']);
  });

  test('lines survive a restart', async () => {
    const first = await store();
    for (let i = 0; i < 3; i++) first.append('fn', `line-${i}`, 'stdout', 'fn-1', `c${i}`);
    await first.close();
    const second = await store();
    // Appended before anything loaded the old lines: still the newest.
    second.append('fn', 'line-3', 'stdout', 'fn-2');
    const got = await second.read('fn');
    assert.deepEqual(lines(got), ['line-0', 'line-1', 'line-2', 'line-3']);
    assert.equal(got[2]!.call, 'c2');
    assert.deepEqual(lines(await second.read('fn', { tail: 2 })), ['line-2', 'line-3']);
    await second.close();
    assert.deepEqual(lines(await (await store()).read('fn')), ['line-0', 'line-1', 'line-2', 'line-3']);
  });

  test('the bound holds: old lines are dropped, in memory, on disk and after a restart', async () => {
    const logs = await store({ maxLines: 10, memoryLines: 4 });
    for (let i = 0; i < 35; i++) {
      logs.append('fn', `line-${i}`, 'stdout', 'fn-1');
      // Several batches, so the files rotate more than once.
      if (i % 6 === 5) await logs.flush();
    }
    const expected = Array.from({ length: 10 }, (_, i) => `line-${25 + i}`);
    assert.deepEqual(lines(await logs.read('fn')), expected);
    assert.deepEqual(lines(await logs.read('fn', { tail: 1000 })), expected);
    await logs.close();

    const files = (await readdir(dir)).sort();
    assert.deepEqual(files, ['fn.log', 'fn.log.1']);
    const onDisk =
      fileLines(await readFile(join(dir, 'fn.log'), 'utf8')) + fileLines(await readFile(join(dir, 'fn.log.1'), 'utf8'));
    assert.ok(onDisk >= 10 && onDisk <= 20, `${onDisk} lines on disk`);

    const again = await store({ maxLines: 10 });
    assert.deepEqual(lines(await again.read('fn')), expected);
  });

  test('a byte bound rotates files too', async () => {
    const logs = await store({ maxLines: 1000, maxFileBytes: 1024 });
    const long = 'x'.repeat(200);
    for (let i = 0; i < 40; i++) logs.append('fn', `${i} ${long}`, 'stdout', 'fn-1');
    await logs.close();
    // A file is full once it reaches the bound: it holds at most one line beyond it.
    for (const file of ['fn.log', 'fn.log.1']) {
      const size = (await readFile(join(dir, file))).length;
      assert.ok(size > 0 && size < 1024 + 300, `${file}: ${size} bytes`);
    }
    const again = await store({ maxLines: 1000, maxFileBytes: 1024 });
    const got = await again.read('fn');
    assert.ok(got.length > 0 && got.at(-1)!.line.startsWith('39 '));
  });

  test('a torn or garbage line left by a crash is skipped and the next line starts clean', async () => {
    const good = (i: number) =>
      JSON.stringify({
        time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
        fn: 'fn',
        instance: 'fn-1',
        stream: 'stdout',
        line: `good-${i}`,
      });
    await writeFile(join(dir, 'fn.log.1'), `${good(0)}\nnot json at all\n`);
    await writeFile(join(dir, 'fn.log'), `${good(1)}\n{"time":"2026","fn":1}\n${good(2)}\n{"time":"2026-01-01T00:00:0`);
    const logs = await store();
    assert.deepEqual(lines(await logs.read('fn')), ['good-0', 'good-1', 'good-2']);
    assert.deepEqual(lines(await logs.read('fn', { since: new Date(Date.UTC(2026, 0, 1, 0, 0, 1)) })), [
      'good-1',
      'good-2',
    ]);
    logs.append('fn', 'after crash', 'stdout', 'fn-2');
    await logs.close();

    const text = await readFile(join(dir, 'fn.log'), 'utf8');
    assert.ok(text.endsWith('\n'));
    assert.ok(!text.includes('2026-01-01T00:00:0{'), 'the torn line is gone, not glued to the next one');
    const again = await store();
    assert.deepEqual(lines(await again.read('fn')), ['good-0', 'good-1', 'good-2', 'after crash']);
  });

  test('long lines are cut with a marker', async () => {
    const logs = await store();
    logs.append('fn', 'y'.repeat(MAX_LINE_CHARS * 3), 'stdout', 'fn-1');
    logs.append('fn', 'ok', 'stdout', 'fn-1');
    const [long, short] = await logs.read('fn');
    assert.equal(long!.line.length, MAX_LINE_CHARS + TRUNCATED_MARKER.length);
    assert.ok(long!.line.endsWith(TRUNCATED_MARKER));
    assert.equal(short!.line, 'ok');
  });

  test('remove forgets the lines, in memory and on disk', async () => {
    const logs = await store();
    logs.append('fn', 'bye', 'stdout', 'fn-1');
    logs.append('keep', 'stay', 'stdout', 'keep-1');
    await logs.read('fn');
    await logs.remove('fn');
    assert.deepEqual(await logs.read('fn'), []);
    await logs.close();
    assert.deepEqual((await readdir(dir)).sort(), ['keep.log']);
    const again = await store();
    assert.deepEqual(await again.read('fn'), []);
    assert.deepEqual(lines(await again.read('keep')), ['stay']);
  });

  test('names that are not function names are refused (no path tricks)', async () => {
    const logs = await store();
    const bad = (e: unknown) => e instanceof TernError && e.code === 'bad_request';
    assert.throws(() => logs.append('../evil', 'x', 'stdout', 'i'), bad);
    await assert.rejects(logs.read('../../etc/passwd'), bad);
    assert.throws(() => logs.follow('A', () => {}), bad);
    assert.throws(() => logs.sinkFor('a/b'), bad);
    assert.throws(() => new FunctionLogs({ dir, maxLines: 0 }), bad);
  });

  test('close writes every pending line; later appends are ignored', async () => {
    const logs = await store();
    for (let i = 0; i < 50; i++) logs.append('fn', `l${i}`, i % 2 ? 'stderr' : 'stdout', 'fn-1');
    await logs.close();
    logs.append('fn', 'too late', 'stdout', 'fn-1');
    await logs.close();
    assert.equal(fileLines(await readFile(join(dir, 'fn.log'), 'utf8')), 50);
    const got = await (await store()).read('fn');
    assert.equal(got.length, 50);
    assert.equal(got.at(-1)!.line, 'l49');
  });

  test('lines waiting for the disk are bounded too', async () => {
    const logs = await store({ maxLines: 100 });
    // All in one turn: no batch reaches the disk in between, and only the newest maxLines can matter.
    for (let i = 0; i < 5000; i++) logs.append('fn', `l${i}`, 'stdout', 'fn-1');
    await logs.close();
    const again = await store({ maxLines: 1000 });
    const got = await again.read('fn');
    assert.equal(got.length, 100);
    assert.equal(got[0]!.line, 'l4900');
    assert.equal(got.at(-1)!.line, 'l4999');
  });
});
