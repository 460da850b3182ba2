/**
 * Every duration Tern reads has a range (issue 25, item 3): function.toml's timeout and keepalive,
 * and each duration of the node config. Out-of-range values (0 where it means nothing, 1e308,
 * "999999h", negatives) are refused naming the key and the range; the bounds themselves are taken.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config.js';
import { checkDuration, MAX_TIMER_MS } from '../../src/core/duration.js';
import { TernError } from '../../src/core/errors.js';
import { parseFunctionToml } from '../../src/registry/spec.js';

const OUT_OF_RANGE_SPELLINGS = ['0', '1e308', '"999999h"', '-1', '"-5s"', '"0ms"', 'inf', 'nan', '"1e308"', '"soon"'];

function refusedSpec(toml: string, key: string, range: string): void {
  assert.throws(
    () => parseFunctionToml(`runtime = "wasm"\n${toml}\n`, 'fn'),
    (e: unknown) => {
      assert.ok(e instanceof TernError, String(e));
      assert.equal(e.status, 400, e.message);
      assert.match(e.message, new RegExp(`^function\\.toml: ${key}: `), e.message);
      assert.ok(e.message.includes(`allowed ${range}`), `${toml}: ${e.message}`);
      return true;
    },
    toml,
  );
}

describe('function.toml durations are bounded', () => {
  test('timeout: 1ms to 24h', () => {
    for (const v of OUT_OF_RANGE_SPELLINGS) refusedSpec(`timeout = ${v}`, 'timeout', '1ms to 24h');
    for (const v of ['"24h1ms"', '86400.001', '"25h"', '"2d"']) refusedSpec(`timeout = ${v}`, 'timeout', '1ms to 24h');
    const ms = (v: string) => parseFunctionToml(`runtime = "wasm"\ntimeout = ${v}\n`, 'fn').timeoutMs;
    assert.equal(ms('"1ms"'), 1);
    assert.equal(ms('0.001'), 1);
    assert.equal(ms('"24h"'), 86_400_000);
    assert.equal(ms('86400'), 86_400_000);
    assert.equal(ms('"1d"'), 86_400_000);
  });

  test('keepalive: 0 to 7d', () => {
    for (const v of ['1e308', '"999999h"', '-1', '"-5s"', '"8d"', '604801', 'inf', 'nan'])
      refusedSpec(`keepalive = ${v}`, 'keepalive', '0 to 7d');
    const ms = (v: string) => parseFunctionToml(`runtime = "wasm"\nkeepalive = ${v}\n`, 'fn').keepaliveMs;
    assert.equal(ms('0'), 0);
    assert.equal(ms('"0s"'), 0);
    assert.equal(ms('"7d"'), 604_800_000);
    assert.equal(ms('604800'), 604_800_000);
    assert.equal(ms('100000'), 100_000_000, "UniFaaS registries' keepalive = 100000 (seconds) still loads");
  });

  test('every range stays below the longest timer Node honours', () => {
    assert.equal(checkDuration(MAX_TIMER_MS / 1000, { minMs: 0, maxMs: MAX_TIMER_MS - 1 }).ok, false);
    assert.throws(() => checkDuration(1, { minMs: 0, maxMs: MAX_TIMER_MS }), RangeError);
  });
});

/** loadConfig reads its file through the real reader: one file per case in a temp folder. */
function loadWithFile(text: string) {
  const dir = mkdtempSync(join(tmpdir(), 'tern-config-test-'));
  try {
    writeFileSync(join(dir, 'tern.toml'), text);
    return loadConfig({ config: 'tern.toml' }, {}, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function refusedConfig(text: string, path: string, message: string): void {
  assert.throws(
    () => loadWithFile(text),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.ok(e.message.startsWith(`config: ${path}: `), e.message);
      assert.ok(e.message.includes(message), `${text}: ${e.message}`);
      return true;
    },
    text,
  );
}

describe('node config durations are bounded', () => {
  const cases: { table: string; key: string; path: string; range: string; bad: string[]; good: [string, number][] }[] =
    [
      {
        table: '',
        key: 'drain-timeout',
        path: 'drain-timeout',
        range: '0 to 1h',
        bad: ['1e308', '"999999h"', '-1', '"61m"'],
        good: [
          ['0', 0],
          ['"1h"', 3_600_000],
        ],
      },
      {
        table: 'queue',
        key: 'wait',
        path: 'queue.wait',
        range: '1ms to 1h',
        bad: ['0', '1e308', '"999999h"', '-1', '"2h"'],
        good: [
          ['"1ms"', 1],
          ['3600', 3_600_000],
        ],
      },
      {
        table: 'calls',
        key: 'retention',
        path: 'calls.retention',
        range: '1s to 7d',
        bad: ['0', '1e308', '"999999h"', '-1', '"999ms"', '"8d"'],
        good: [
          ['1', 1000],
          ['"7d"', 604_800_000],
        ],
      },
      {
        table: 'state',
        key: 'lock-wait',
        path: 'state.lock-wait',
        range: '0 to 1h',
        bad: ['1e308', '"999999h"', '-1', '"3601s"'],
        good: [
          ['0', 0],
          ['"1h"', 3_600_000],
        ],
      },
      {
        table: 'state',
        key: 'lock-ttl',
        path: 'state.lock-ttl',
        range: '1s to 24h',
        bad: ['0', '1e308', '"999999h"', '-1', '"25h"'],
        good: [
          ['"1s"', 1000],
          ['"24h"', 86_400_000],
        ],
      },
      {
        table: 'cluster',
        key: 'lease-ttl',
        path: 'cluster.lease-ttl',
        range: '2s to 1h',
        bad: ['0', '1', '1e308', '"999999h"', '-1', '3601'],
        good: [
          ['2', 2],
          ['"1h"', 3600],
        ],
      },
    ];

  for (const c of cases) {
    test(`${c.path}: ${c.range}`, () => {
      const file = (v: string) => (c.table === '' ? `${c.key} = ${v}\n` : `[${c.table}]\n${c.key} = ${v}\n`);
      for (const v of c.bad) refusedConfig(file(v), c.path, `allowed ${c.range}`);
      for (const [v, want] of c.good) {
        const cfg = loadWithFile(file(v));
        const got = {
          'drain-timeout': cfg.drainTimeoutMs,
          'queue.wait': cfg.queue.waitMs,
          'calls.retention': cfg.calls.retentionMs,
          'state.lock-wait': cfg.state.lockWaitMs,
          'state.lock-ttl': cfg.state.lockTtlMs,
          'cluster.lease-ttl': cfg.cluster.leaseTtlSec,
        }[c.path];
        assert.equal(got, want, `${c.path} = ${v}`);
      }
    });
  }

  test('lease-ttl counts whole seconds', () => {
    refusedConfig('[cluster]\nlease-ttl = "2500ms"\n', 'cluster.lease-ttl', 'not a whole number of seconds');
  });
});
