/**
 * Observability against a real node: /metrics counters move by the right amounts and parse as
 * Prometheus text; a function's prints land in its logs with the call id; follow mode streams a
 * line printed after the request began.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { packFiles } from '../helpers/archive.js';
import { startTern, type TernProcess } from '../helpers/node.js';
import { parseExposition, sampleValue } from '../observability/exposition.js';

let node: TernProcess;
before(async () => {
  node = await startTern();
  const res = await node.api('PUT', '/v1/functions/talker', {
    body: await packFiles({
      'function.toml': 'runtime = "python"\n',
      'main.py':
        'import sys\ndef handle(req):\n    print("said:", req.text(), flush=True)\n    if req.text() == "fail":\n        raise RuntimeError("asked to fail")\n    return "ok"\n',
    }),
  });
  assert.equal(res.status, 201, await res.clone().text());
});
after(async () => {
  assert.equal(await node.stop({ cleanup: true }), 0);
});

async function scrape() {
  const res = await node.api('GET', '/metrics');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  return parseExposition(await res.text());
}

const calls = (
  m: ReturnType<typeof parseExposition> extends Promise<infer T> ? T : ReturnType<typeof parseExposition>,
  status: string,
  start: string,
) => sampleValue(m, 'tern_calls_total', { function: 'talker', status, start }) ?? 0;

test('metrics count calls by status and start, and parse as Prometheus text', async () => {
  const before = await scrape();
  const ok0 = calls(before, '200', 'cold') + calls(before, '200', 'warm');
  const failed0 = calls(before, '502', 'cold') + calls(before, '502', 'warm');
  for (let i = 0; i < 3; i++)
    assert.equal((await fetch(`${node.url}/fn/talker`, { method: 'POST', body: 'hi' })).status, 200);
  assert.equal((await fetch(`${node.url}/fn/talker`, { method: 'POST', body: 'fail' })).status, 502);
  assert.equal((await fetch(`${node.url}/fn/no-such-function`)).status, 404);

  const after = await scrape();
  assert.equal(calls(after, '200', 'cold') + calls(after, '200', 'warm') - ok0, 3);
  assert.equal(calls(after, '502', 'cold') + calls(after, '502', 'warm') - failed0, 1);
  const histogramCount = sampleValue(after, 'tern_call_duration_seconds_count', { function: 'talker' }) ?? 0;
  assert.ok(histogramCount >= 4);
  assert.ok((sampleValue(after, 'tern_memory_budget_bytes') ?? 0) > 0);
  // Unknown names never become series of their own.
  const text = await (await node.api('GET', '/metrics')).text();
  assert.doesNotMatch(text, /no-such-function/);
});

test("a function's prints appear in its logs with the call id", async () => {
  const res = await fetch(`${node.url}/fn/talker`, { method: 'POST', body: 'marker-1234' });
  assert.equal(res.status, 200);
  const callId = res.headers.get('x-tern-call-id');
  assert.ok(callId);
  let found: { fn: string; call?: string; line: string } | undefined;
  const deadline = Date.now() + 10_000;
  while (!found && Date.now() < deadline) {
    const { lines } = (await (await node.api('GET', '/v1/functions/talker/logs?tail=50')).json()) as {
      lines: { fn: string; call?: string; line: string }[];
    };
    found = lines.find((l) => l.line.includes('marker-1234'));
    if (!found) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(found, 'the line reached the log store');
  assert.equal(found.fn, 'talker');
  assert.equal(found.call, callId);
});

test('follow mode streams a line printed after the request began', async () => {
  const controller = new AbortController();
  const res = await node.api('GET', '/v1/functions/talker/logs?follow=1&tail=0', { headers: {} });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /ndjson/);
  const reader = res.body!.getReader();
  assert.equal((await fetch(`${node.url}/fn/talker`, { method: 'POST', body: 'followed-5678' })).status, 200);
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    assert.equal(done, false, 'the stream stays open until the line arrives');
    buffered += Buffer.from(value!).toString();
    if (buffered.includes('followed-5678')) break;
  }
  const entry = JSON.parse(buffered.split('\n').find((l) => l.includes('followed-5678'))!) as {
    fn: string;
    stream: string;
  };
  assert.equal(entry.fn, 'talker');
  assert.equal(entry.stream, 'stdout');
  await reader.cancel();
  controller.abort();
});
