/**
 * An async run survives a kill -9 of its node: the node restarted on the same data folder resumes
 * the run from its journal, replays the state that had completed and runs only what had not. How
 * often each state's function really ran is read from the function's own output ("ran A"), which
 * the node keeps in <data>/logs/mark.log.
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { startTern, type TernProcess } from '../helpers/node.js';
import { deployFunction, deployWorkflow, waitForCall } from './helpers.js';

const MARK = {
  'function.toml': 'runtime = "python"\nhandler = "main:handle"\n',
  'main.py': `def handle(req):
    d = req.json()
    print("ran " + d["step"], flush=True)
    return {"steps": d["steps"] + [d["step"]]}
`,
};

const STEPS = {
  StartAt: 'A',
  States: {
    A: { Type: 'Task', Resource: 'mark', Parameters: { step: 'A', 'steps.$': '$.steps' }, Next: 'Pause' },
    Pause: { Type: 'Wait', Seconds: 2, Next: 'B' },
    B: { Type: 'Task', Resource: 'mark', Parameters: { step: 'B', 'steps.$': '$.steps' }, End: true },
  },
};

/** Polls `read` until `ok` holds (bounded). */
async function until<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what} never happened (last: ${JSON.stringify(v)})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** How many times the function printed "ran <step>", read from the node's log file of it. */
async function ran(data: string): Promise<Record<string, number>> {
  const text = await readFile(join(data, 'logs', 'mark.log'), 'utf8').catch(() => '');
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/"ran ([A-Z])"/g)) out[m[1]!] = (out[m[1]!] ?? 0) + 1;
  return out;
}

describe('workflow runs survive kill -9', () => {
  let first: TernProcess | undefined;
  let second: TernProcess | undefined;
  let third: TernProcess | undefined;

  after(async () => {
    await first?.stop();
    await second?.stop();
    await third?.stop({ cleanup: true });
    if (first) await rm(first.data, { recursive: true, force: true });
  });

  test('the restarted node resumes the run from the last completed state; no completed state runs twice', async () => {
    first = await startTern();
    await deployFunction(first, 'mark', MARK);
    await deployWorkflow(first, 'steps', STEPS);
    const res = await fetch(`${first.url}/async/wf/steps`, { method: 'POST', body: '{"steps": []}' });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    // Past A's completion, on disk: the Wait's line follows A's in the run's journal.
    const journal = join(first.data, 'workflows', 'runs', `${id}.jsonl`);
    await until(
      () => readFile(journal, 'utf8').catch(() => ''),
      (text) => text.includes('"t":"wait"'),
      'the Wait state',
    );
    await until(
      () => ran(first!.data),
      (r) => r.A === 1,
      'A in the log',
    );
    assert.equal(await first.stop({ signal: 'SIGKILL' }), null);
    assert.deepEqual(await ran(first.data), { A: 1 });

    second = await startTern({ data: first.data });
    const record = await waitForCall(second, id);
    assert.equal(record.state, 'done', JSON.stringify(record));
    assert.deepEqual(JSON.parse(Buffer.from(record.result!.body, 'base64').toString()), { steps: ['A', 'B'] });
    await until(
      () => ran(second!.data),
      (r) => r.B === 1,
      'B in the log',
    );
    assert.deepEqual(await ran(second.data), { A: 1, B: 1 }, 'A ran once, before the kill; B once, after');
    const report = record.report!.workflow;
    assert.equal(report.resumed, true);
    assert.deepEqual(
      report.states.map((s) => [s.name, s.status]),
      [
        ['A', 'replayed'],
        ['Pause', 'succeeded'],
        ['B', 'succeeded'],
      ],
    );
    // The journal goes once the result is recorded.
    await until(
      () =>
        readFile(journal).then(
          () => true,
          () => false,
        ),
      (exists) => !exists,
      'the journal removed',
    );
  });

  test('a node stopped normally (SIGTERM) mid-run leaves the run to resume at its next start', async () => {
    assert.ok(second, 'runs after the first test');
    const res = await fetch(`${second.url}/async/wf/steps`, { method: 'POST', body: '{"steps": ["x"]}' });
    const { id } = (await res.json()) as { id: string };
    const journal = join(second.data, 'workflows', 'runs', `${id}.jsonl`);
    await until(
      () => readFile(journal, 'utf8').catch(() => ''),
      (text) => text.includes('"t":"wait"'),
      'the Wait state',
    );
    await until(
      () => ran(second!.data),
      (r) => r.A === 2,
      'A in the log',
    );
    assert.equal(await second.stop(), 0);
    assert.deepEqual(await ran(second.data), { A: 2, B: 1 });
    third = await startTern({ data: second.data });
    const record = await waitForCall(third, id);
    assert.equal(record.state, 'done', JSON.stringify(record));
    assert.deepEqual(JSON.parse(Buffer.from(record.result!.body, 'base64').toString()), { steps: ['x', 'A', 'B'] });
    await until(
      () => ran(third!.data),
      (r) => r.B === 2,
      'B in the log',
    );
    assert.deepEqual(await ran(third.data), { A: 2, B: 2 });
  });
});
