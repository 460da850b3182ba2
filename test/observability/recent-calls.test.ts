/**
 * Recent calls and the counts the dashboard shows: a failed call (5xx, or an error code Tern set)
 * keeps its code and message; counts add up per function and across event loops.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TernError } from '../../src/core/errors.js';
import { createInvocation } from '../../src/core/invocation.js';
import { emptyReport } from '../../src/core/report.js';
import { errorResult, type Result } from '../../src/core/result.js';
import { addCallCounts, RecentCalls } from '../../src/observability/recent-calls.js';

const call = (fn: string) => createInvocation({ function: fn, method: 'POST', trigger: 'http' });
const answer = (fn: string, status: number, body = ''): Result => ({
  status,
  headers: {},
  body: Buffer.from(body),
  report: emptyReport('n1', fn),
});

test('failed calls keep their error code and message; counts since start and among the recent calls', () => {
  const recent = new RecentCalls(3, () => true);
  recent.callCompleted(call('fn'), answer('fn', 200, 'ok'));
  recent.callCompleted(call('fn'), answer('fn', 404, 'not here'));
  const timeout = call('fn');
  recent.callCompleted(
    timeout,
    errorResult(new TernError('timeout', 'fn took longer than 10 s'), emptyReport('n1', 'fn')),
  );
  recent.callCompleted(call('fn'), answer('fn', 500, 'Traceback: boom'));

  const [own, tern, notFound] = recent.list('fn', 3);
  assert.deepEqual(own!.error, { code: 'http_500', message: 'Traceback: boom' });
  assert.equal(own!.state, 'failed');
  assert.equal(tern!.id, timeout.id);
  assert.deepEqual(tern!.error, { code: 'timeout', message: 'fn took longer than 10 s' });
  assert.equal(notFound!.error, undefined, "a function's own 4xx is an answer, not an error");
  assert.equal(notFound!.state, 'done');

  // Four calls, two failed; the ring keeps the last three, two of them failed.
  assert.deepEqual(recent.counts(), { fn: { calls: 4, errors: 2, recentCalls: 3, recentErrors: 2 } });

  const sum = recent.counts();
  addCallCounts(sum, {
    fn: { calls: 1, errors: 1, recentCalls: 1, recentErrors: 1 },
    other: { calls: 2, errors: 0, recentCalls: 2, recentErrors: 0 },
  });
  assert.deepEqual(sum, {
    fn: { calls: 5, errors: 3, recentCalls: 4, recentErrors: 3 },
    other: { calls: 2, errors: 0, recentCalls: 2, recentErrors: 0 },
  });

  recent.functionEvent('fn', 'removed');
  assert.deepEqual(recent.counts(), {});
});
