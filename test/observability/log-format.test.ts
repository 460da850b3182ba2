/** The node log for people (log-format.ts) and the one-line runtime summary (runtime-set.ts). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runtimeSummary } from '../../src/node/runtime-set.js';
import { formatEntry, prettyDestination, wantsPretty } from '../../src/observability/log-format.js';
import { createNodeLogger } from '../../src/observability/logger.js';

describe('readable log lines', () => {
  test('auto is readable on a terminal and JSON elsewhere; pretty and json are what they say', () => {
    assert.equal(wantsPretty('auto', true), true);
    assert.equal(wantsPretty('auto', false), false);
    assert.equal(wantsPretty('pretty', false), true);
    assert.equal(wantsPretty('json', true), false);
  });

  test('an entry is one line: time, level, message; fields only at debug', () => {
    const base = { time: '2026-12-05T07:14:12.720Z', node: 'n', pid: 1, event: 'runtime' };
    assert.equal(
      formatEntry({ ...base, level: 'info', runtime: 'wasm', msg: 'runtime wasm available' }, false),
      '07:14:12 INFO  runtime wasm available\n',
    );
    assert.equal(
      formatEntry({ ...base, level: 'debug', runtime: 'wasm', msg: 'probe' }, false),
      '07:14:12 DEBUG probe  runtime=wasm\n',
    );
    assert.ok(formatEntry({ ...base, level: 'warn', msg: 'w' }, true).includes('\u001b[33mWARN '));
    const failed = formatEntry({ ...base, level: 'error', msg: 'failed', err: { stack: 'Error: x\n    at y' } }, false);
    assert.equal(failed, '07:14:12 ERROR failed\n    Error: x\n        at y\n');
  });

  test("the node logger's JSON lines format as readable lines", () => {
    const written: string[] = [];
    const logger = createNodeLogger('info', 'edge-1', { write: (line: string) => void written.push(line) });
    logger.info({ event: 'serving' }, 'serving on http://127.0.0.1:1');
    const entry = JSON.parse(written[0]!) as Record<string, unknown>;
    assert.match(formatEntry(entry, false), /^\d\d:\d\d:\d\d INFO {2}serving on http:\/\/127\.0\.0\.1:1\n$/);
    assert.equal(typeof prettyDestination(false).write, 'function');
  });
});

describe('runtime summary', () => {
  test('one line: available runtimes (microvm with its accelerator), then why the others are not', () => {
    const line = runtimeSummary([
      { name: 'wasm', available: true, detail: 'WASI preview1' },
      {
        name: 'microvm',
        available: true,
        detail:
          'tcg (KVM test boot failed: QEMU ended (signal SIGABRT) before the guest ran: KVM internal error. Suberror: 1)',
      },
      { name: 'python', available: false, detail: 'the sandbox is not built: run scripts/setup.sh\nmore' },
    ]);
    assert.equal(
      line,
      'runtimes: wasm, microvm (tcg); not available: python (the sandbox is not built: run scripts/setup.sh)',
    );
    assert.doesNotMatch(line, /abort|SIGABRT|KVM internal/i);
  });
});
