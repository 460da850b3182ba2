import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { TernError } from '../../src/core/errors.js';
import { createInvocation } from '../../src/core/invocation.js';
import { emptyReport } from '../../src/core/report.js';
import { lifecycleTelemetry } from '../../src/observability/lifecycle.js';
import { LogEvent, createNodeLogger } from '../../src/observability/logger.js';

/** A node logger writing into an array of parsed JSON lines. */
function capture(level: string) {
  const records: Record<string, unknown>[] = [];
  const logger = createNodeLogger(level, 'edge-1', {
    write(line: string) {
      for (const l of line.split('\n')) if (l !== '') records.push(JSON.parse(l) as Record<string, unknown>);
    },
  });
  return { logger, records };
}

function completeCall(level: string) {
  const { logger, records } = capture(level);
  const inv = createInvocation({ function: 'hello', trigger: 'http' });
  const report = { ...emptyReport('edge-1', 'hello'), instance: 'hello-1', runMs: 1.2, totalMs: 1.5 };
  lifecycleTelemetry(logger).callCompleted(inv, { status: 200, headers: {}, body: Buffer.alloc(0), report });
  return { records, id: inv.id };
}

describe('node logger', () => {
  test('JSON lines with the node in every line, ISO time and a level name', () => {
    const { logger, records } = capture('info');
    logger.info({ event: 'serving' }, 'hello');
    logger.debug('not at info');
    assert.equal(records.length, 1);
    const [r] = records;
    assert.equal(r!['node'], 'edge-1');
    assert.equal(r!['level'], 'info');
    assert.equal(r!['msg'], 'hello');
    assert.equal(r!['event'], 'serving');
    assert.ok(!Number.isNaN(Date.parse(String(r!['time']))));
  });

  test('an unknown level is a clear error', () => {
    assert.throws(
      () => createNodeLogger('loud', 'n'),
      (e: unknown) => e instanceof TernError && e.code === 'bad_request' && /log-level/.test(e.message),
    );
  });

  test('lifecycle events at info, with their event names', () => {
    const { logger, records } = capture('info');
    const t = lifecycleTelemetry(logger);
    t.functionEvent('hello', 'deployed', 'abc');
    t.functionEvent('hello', 'updated', 'def');
    t.instanceStarted('hello', 'hello-1', 12.5);
    t.instanceStopped('hello', 'hello-1', 'keepalive');
    t.instanceStopped('hello', 'hello-2', 'evicted');
    t.instanceStopped('hello', 'hello-3', 'timeout', 'over 10s');
    t.instanceStopped('hello', 'hello-4', 'crashed', 'exit 139');
    t.offloaded('hello', 'peer-1', true);
    t.functionEvent('hello', 'removed');
    t.callRejected('hello', 'queue_full');
    const events = records.map((r) => [r['event'], r['level']]);
    assert.deepEqual(events, [
      [LogEvent.deploy, 'info'],
      [LogEvent.update, 'info'],
      [LogEvent.instanceStart, 'info'],
      [LogEvent.instanceStop, 'info'],
      [LogEvent.instanceEvict, 'info'],
      [LogEvent.instanceKill, 'info'],
      [LogEvent.instanceKill, 'warn'],
      [LogEvent.offload, 'info'],
      [LogEvent.remove, 'info'],
    ]);
    assert.equal(records[0]!['version'], 'abc');
    assert.equal(records[2]!['initMs'], 12.5);
    assert.equal(records[5]!['detail'], 'over 10s');
    assert.ok(records.every((r) => r['function'] === 'hello' && r['node'] === 'edge-1'));
  });

  test('one line per call at debug, none at info', () => {
    assert.equal(completeCall('info').records.length, 0);
    const { records, id } = completeCall('debug');
    assert.equal(records.length, 1);
    assert.equal(records[0]!['event'], LogEvent.call);
    assert.equal(records[0]!['call'], id);
    assert.equal(records[0]!['status'], 200);
    assert.equal(records[0]!['runMs'], 1.2);
  });
});
