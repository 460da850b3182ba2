/** The wrk output reader of the core-scaling scenario, and its core levels. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseWrkOutput, parseWrkTime } from '../../bench/lib/wrk.js';
import { coreLevels } from '../../bench/scenarios/core-scaling.js';

const OUTPUT = `Running 8s test @ http://127.0.0.1:41234/fn/hello
  8 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us  100.00us   2.01ms   90.00%
    Req/Sec     9.80k   200.00     10.00k    80.00%
  Latency Distribution
     50%  800.00us
     75%  850.00us
     90%  900.00us
     99%    1.20ms
  10000 requests in 8.00s, 1.20MB read
  Socket errors: connect 0, read 5, write 0, timeout 5
  Non-2xx or 3xx responses: 90
Requests/sec:   1250.00
Transfer/sec:    153.60KB
`;

describe('wrk output', () => {
  test('times in every unit wrk prints', () => {
    assert.equal(parseWrkTime('812.00us'), 0.812);
    assert.equal(parseWrkTime('1.20ms'), 1.2);
    assert.equal(parseWrkTime('2.01s'), 2010);
    assert.throws(() => parseWrkTime('fast'), /unreadable time/);
  });

  test('good answers per second, percentiles and every kind of error', () => {
    const r = parseWrkOutput(OUTPUT);
    assert.equal(r.requests, 10_000);
    assert.equal(r.errors, 100);
    assert.equal(r.rps, 1238);
    assert.equal(r.medianMs, 0.8);
    assert.equal(r.p99Ms, 1.2);
    assert.equal(r.durationS, 8);
  });

  test('output without the figures is an error, not a zero', () => {
    assert.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused'), /unexpected output/);
  });

  test('core levels: powers of two up to half the machine; a 2-core box measures N = 1', () => {
    assert.deepEqual(coreLevels(2, false), [1]);
    assert.deepEqual(coreLevels(16, false), [1, 2, 4, 8]);
    assert.deepEqual(coreLevels(12, false), [1, 2, 4, 6]);
    assert.deepEqual(coreLevels(16, true), [1]);
  });
});
