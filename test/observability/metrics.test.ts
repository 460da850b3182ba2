import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createInvocation } from '../../src/core/invocation.js';
import { emptyReport, type Report } from '../../src/core/report.js';
import type { Result } from '../../src/core/result.js';
import { Metrics, OTHER_TARGET, UNKNOWN_FUNCTION } from '../../src/observability/metrics.js';
import type { FunctionStatus } from '../../src/scheduler/types.js';
import { labelValues, parseExposition, sampleValue, type Family } from './exposition.js';

/** A node-like world for Metrics: a set of deployed functions and their live status. */
function world() {
  const deployed = new Set(['hello', 'sieve']);
  const status = new Map<string, FunctionStatus>();
  let used = 128;
  const metrics = new Metrics({
    statuses: () => [...status.values()].filter((s) => deployed.has(s.name)),
    capacity: () => ({ memoryMiB: 1024, usedMiB: used }),
    isKnown: (fn) => deployed.has(fn),
    functions: () => [...deployed].map((name) => ({ name, runtime: 'wasm', version: `v-${name}` })),
  });
  return {
    metrics,
    deployed,
    status,
    setUsed: (mib: number) => (used = mib),
    scrape: async (): Promise<Map<string, Family>> => parseExposition(await metrics.render()),
  };
}

function call(metrics: Metrics, fn: string, status: number, report: Partial<Report> = {}): void {
  const inv = createInvocation({ function: fn, trigger: 'http' });
  const result: Result = {
    status,
    headers: {},
    body: Buffer.alloc(0),
    report: { ...emptyReport('n1', fn), ...report },
  };
  metrics.callCompleted(inv, result);
}

const warm = { instance: 'hello-1', cold: false, queueMs: 0.2, runMs: 1.5, totalMs: 2 };
const cold = { instance: 'hello-2', cold: true, queueMs: 30, initMs: 25, runMs: 3, totalMs: 40 };

describe('Metrics', () => {
  test('the exposition parses strictly and carries process metrics', async () => {
    const w = world();
    call(w.metrics, 'hello', 200, warm);
    const families = await w.scrape();
    assert.ok(families.has('process_cpu_user_seconds_total'), 'default process metrics are collected');
    assert.ok(families.has('nodejs_eventloop_lag_seconds'));
    assert.match(w.metrics.contentType, /^text\/plain; version=0\.0\.4/);
    for (const name of [
      'tern_calls_total',
      'tern_call_duration_seconds',
      'tern_call_queue_seconds',
      'tern_call_run_seconds',
      'tern_instance_start_seconds',
      'tern_instances',
      'tern_queue_length',
      'tern_offloaded_calls_total',
      'tern_rejected_calls_total',
      'tern_instance_stops_total',
      'tern_instance_starts_total',
      'tern_memory_budget_bytes',
      'tern_memory_used_bytes',
      'tern_function_info',
    ]) {
      assert.ok(families.has(name), `${name} is exposed`);
    }
  });

  test('calls move counters and histograms by the right amounts', async () => {
    const w = world();
    call(w.metrics, 'hello', 200, cold);
    call(w.metrics, 'hello', 200, warm);
    call(w.metrics, 'hello', 200, warm);
    call(w.metrics, 'hello', 504, { ...warm, error: 'timeout' });
    call(w.metrics, 'hello', 429, { error: 'queue_full', totalMs: 0.1 });
    call(w.metrics, 'hello', 999, warm);
    const f = await w.scrape();
    assert.equal(sampleValue(f, 'tern_calls_total', { function: 'hello', status: '200', start: 'cold' }), 1);
    assert.equal(sampleValue(f, 'tern_calls_total', { function: 'hello', status: '200', start: 'warm' }), 2);
    assert.equal(sampleValue(f, 'tern_calls_total', { function: 'hello', status: '504', start: 'warm' }), 1);
    assert.equal(sampleValue(f, 'tern_calls_total', { function: 'hello', status: '429', start: 'none' }), 1);
    assert.equal(sampleValue(f, 'tern_calls_total', { function: 'hello', status: 'invalid', start: 'warm' }), 1);

    assert.equal(sampleValue(f, 'tern_call_duration_seconds_count', { function: 'hello' }), 6);
    // A refused call reached no instance: no queue or run time.
    assert.equal(sampleValue(f, 'tern_call_queue_seconds_count', { function: 'hello' }), 5);
    assert.equal(sampleValue(f, 'tern_call_run_seconds_count', { function: 'hello' }), 5);
    const runSum = sampleValue(f, 'tern_call_run_seconds_sum', { function: 'hello' });
    assert.ok(runSum !== undefined && Math.abs(runSum - (3 + 1.5 * 4) / 1000) < 1e-9, `run sum ${runSum}`);
    // 1.5 ms lands in the 2.5 ms bucket, not in the 1 ms one.
    assert.equal(sampleValue(f, 'tern_call_run_seconds_bucket', { function: 'hello', le: '0.001' }), 0);
    assert.equal(sampleValue(f, 'tern_call_run_seconds_bucket', { function: 'hello', le: '0.0025' }), 4);
    assert.equal(sampleValue(f, 'tern_call_run_seconds_bucket', { function: 'hello', le: '0.00005' }), 0);
  });

  test('an offloaded call counts as a call but its queue and run times stay with the node that ran it', async () => {
    const w = world();
    call(w.metrics, 'hello', 200, { ...warm, offloaded: true, node: 'peer-1' });
    w.metrics.offloaded('hello', 'peer-1', true);
    w.metrics.offloaded('hello', 'peer-2', false);
    const f = await w.scrape();
    assert.equal(sampleValue(f, 'tern_calls_total', { function: 'hello', status: '200', start: 'warm' }), 1);
    assert.equal(sampleValue(f, 'tern_call_duration_seconds_count', { function: 'hello' }), 1);
    assert.equal(sampleValue(f, 'tern_call_run_seconds_count', { function: 'hello' }), undefined);
    assert.equal(
      sampleValue(f, 'tern_offloaded_calls_total', { function: 'hello', target: 'peer-1', outcome: 'ok' }),
      1,
    );
    assert.equal(
      sampleValue(f, 'tern_offloaded_calls_total', { function: 'hello', target: 'peer-2', outcome: 'failed' }),
      1,
    );
  });

  test('instance starts, stops and rejections', async () => {
    const w = world();
    w.metrics.instanceStarted('hello', 'hello-1', 12);
    w.metrics.instanceStarted('hello', 'hello-2', 3000);
    w.metrics.instanceStopped('hello', 'hello-1', 'keepalive');
    w.metrics.instanceStopped('hello', 'hello-2', 'evicted');
    w.metrics.instanceStopped('sieve', 'sieve-3', 'timeout', 'took too long');
    w.metrics.callRejected('hello', 'queue_full');
    w.metrics.callRejected('hello', 'queue_full');
    w.metrics.callRejected('sieve', 'no_capacity');
    const f = await w.scrape();
    assert.equal(sampleValue(f, 'tern_instance_starts_total', { function: 'hello' }), 2);
    assert.equal(sampleValue(f, 'tern_instance_start_seconds_count', { function: 'hello' }), 2);
    assert.equal(sampleValue(f, 'tern_instance_start_seconds_sum', { function: 'hello' }), 3.012);
    assert.equal(sampleValue(f, 'tern_instance_start_seconds_bucket', { function: 'hello', le: '0.025' }), 1);
    assert.equal(sampleValue(f, 'tern_instance_start_seconds_bucket', { function: 'hello', le: '5' }), 2);
    assert.equal(sampleValue(f, 'tern_instance_stops_total', { function: 'hello', reason: 'keepalive' }), 1);
    assert.equal(sampleValue(f, 'tern_instance_stops_total', { function: 'hello', reason: 'evicted' }), 1);
    assert.equal(sampleValue(f, 'tern_instance_stops_total', { function: 'sieve', reason: 'timeout' }), 1);
    assert.equal(sampleValue(f, 'tern_rejected_calls_total', { function: 'hello', reason: 'queue_full' }), 2);
    assert.equal(sampleValue(f, 'tern_rejected_calls_total', { function: 'sieve', reason: 'no_capacity' }), 1);
  });

  test('gauges are read from the callbacks at scrape time', async () => {
    const w = world();
    w.status.set('hello', {
      name: 'hello',
      instances: { starting: 1, idle: 2, busy: 3, total: 6 },
      queued: 4,
      invocations: 10,
      memoryMiB: 768,
    });
    let f = await w.scrape();
    assert.equal(sampleValue(f, 'tern_instances', { function: 'hello', state: 'starting' }), 1);
    assert.equal(sampleValue(f, 'tern_instances', { function: 'hello', state: 'idle' }), 2);
    assert.equal(sampleValue(f, 'tern_instances', { function: 'hello', state: 'busy' }), 3);
    assert.equal(sampleValue(f, 'tern_queue_length', { function: 'hello' }), 4);
    assert.equal(sampleValue(f, 'tern_memory_budget_bytes'), 1024 * 1024 * 1024);
    assert.equal(sampleValue(f, 'tern_memory_used_bytes'), 128 * 1024 * 1024);
    assert.equal(sampleValue(f, 'tern_function_info', { function: 'sieve', runtime: 'wasm', version: 'v-sieve' }), 1);

    w.status.set('hello', {
      name: 'hello',
      instances: { starting: 0, idle: 1, busy: 0, total: 1 },
      queued: 0,
      invocations: 11,
      memoryMiB: 128,
    });
    w.setUsed(0);
    f = await w.scrape();
    assert.equal(sampleValue(f, 'tern_instances', { function: 'hello', state: 'idle' }), 1);
    assert.equal(sampleValue(f, 'tern_instances', { function: 'hello', state: 'busy' }), 0);
    assert.equal(sampleValue(f, 'tern_queue_length', { function: 'hello' }), 0);
    assert.equal(sampleValue(f, 'tern_memory_used_bytes'), 0);
  });

  test('calls to names that are not deployed add no series', async () => {
    const w = world();
    call(w.metrics, 'hello', 200, warm);
    const before = await w.scrape();
    const seriesBefore = [...before.values()]
      .filter((fam) => fam.name.startsWith('tern_'))
      .reduce((n, fam) => n + fam.samples.length, 0);
    for (let i = 0; i < 200; i++) {
      const name = `random-${i}-${Math.random().toString(36).slice(2)}`;
      call(w.metrics, name, 404);
      w.metrics.callRejected(name, 'not_found');
      w.metrics.instanceStopped(name, `${name}-1`, 'crashed');
      w.metrics.offloaded(name, 'peer-1', false);
    }
    const after = await w.scrape();
    const functions = labelValues(after, 'tern_', 'function');
    assert.deepEqual([...functions].sort(), [UNKNOWN_FUNCTION, 'hello', 'sieve'].sort());
    assert.equal(
      sampleValue(after, 'tern_calls_total', { function: UNKNOWN_FUNCTION, status: '404', start: 'none' }),
      200,
    );
    assert.equal(
      sampleValue(after, 'tern_rejected_calls_total', { function: UNKNOWN_FUNCTION, reason: 'not_found' }),
      200,
    );
    const seriesAfter = [...after.values()]
      .filter((fam) => fam.name.startsWith('tern_'))
      .reduce((n, fam) => n + fam.samples.length, 0);
    // The _unknown series are a fixed handful however many names were tried.
    assert.ok(seriesAfter - seriesBefore < 40, `${seriesAfter - seriesBefore} new series`);
  });

  test('offload targets are bounded', async () => {
    const w = world();
    for (let i = 0; i < 100; i++) w.metrics.offloaded('hello', `peer-${i}`, true);
    const f = await w.scrape();
    const targets = labelValues(f, 'tern_offloaded_calls_total', 'target');
    assert.equal(targets.size, 65);
    assert.equal(
      sampleValue(f, 'tern_offloaded_calls_total', { function: 'hello', target: OTHER_TARGET, outcome: 'ok' }),
      36,
    );
  });

  test('a removed function loses its series; others keep theirs', async () => {
    const w = world();
    for (const fn of ['hello', 'sieve']) {
      call(w.metrics, fn, 200, { ...cold, instance: `${fn}-1` });
      w.metrics.instanceStarted(fn, `${fn}-1`, 5);
      w.metrics.instanceStopped(fn, `${fn}-1`, 'keepalive');
      w.metrics.callRejected(fn, 'queue_full');
      w.metrics.offloaded(fn, 'peer-1', true);
      w.status.set(fn, {
        name: fn,
        instances: { starting: 0, idle: 1, busy: 0, total: 1 },
        queued: 0,
        invocations: 1,
        memoryMiB: 128,
      });
    }
    assert.ok(labelValues(await w.scrape(), 'tern_', 'function').has('hello'));

    w.deployed.delete('hello');
    w.metrics.functionEvent('hello', 'removed');
    const f = await w.scrape();
    assert.deepEqual([...labelValues(f, 'tern_', 'function')], ['sieve']);
    assert.equal(sampleValue(f, 'tern_calls_total', { function: 'sieve', status: '200', start: 'cold' }), 1);
    assert.equal(sampleValue(f, 'tern_call_duration_seconds_count', { function: 'sieve' }), 1);

    // A late call of the removed function (an instance finishing) does not bring it back.
    call(w.metrics, 'hello', 200, warm);
    assert.ok(!labelValues(await w.scrape(), 'tern_', 'function').has('hello'));

    // Deployed again, it starts from zero.
    w.deployed.add('hello');
    w.metrics.functionEvent('hello', 'deployed', 'v2');
    call(w.metrics, 'hello', 200, warm);
    assert.equal(
      sampleValue(await w.scrape(), 'tern_calls_total', { function: 'hello', status: '200', start: 'warm' }),
      1,
    );
  });

  test('two Metrics in one process keep separate registries', async () => {
    const a = world();
    const b = world();
    call(a.metrics, 'hello', 200, warm);
    assert.equal(
      sampleValue(await a.scrape(), 'tern_calls_total', { function: 'hello', status: '200', start: 'warm' }),
      1,
    );
    assert.equal(
      sampleValue(await b.scrape(), 'tern_calls_total', { function: 'hello', status: '200', start: 'warm' }),
      undefined,
    );
  });
});

describe('the test exposition parser', () => {
  test('refuses malformed text', () => {
    const good = '# HELP x_total A counter.\n# TYPE x_total counter\nx_total{a="b"} 1\n';
    assert.equal(parseExposition(good).get('x_total')?.samples.length, 1);
    for (const bad of [
      'x_total 1\n',
      '# TYPE x_total counter\nx_total{a="b} 1\n',
      '# TYPE x_total counter\nx_total{a="b"} one\n',
      '# TYPE x_total counter\nx_total{1a="b"} 1\n',
      '# TYPE x_total counter\nx_total 1\nx_total 2\n',
      '# TYPE x_total counter\nx_total 1',
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\nh_sum 1\n',
    ]) {
      assert.throws(() => parseExposition(bad), Error, JSON.stringify(bad));
    }
  });
});
