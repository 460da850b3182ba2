/**
 * The interpreter on its own (no node): paths, templates and intrinsics, choice rules, retry and
 * catch, Map and Parallel, timeouts, replay from a journal, and the definition checks.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { emptyReport } from '../../src/core/report.js';
import { AslError, parseAsl } from '../../src/workflows/asl.js';
import { evaluateRule, compileRule } from '../../src/workflows/choice.js';
import { errorMatches, StatesError } from '../../src/workflows/errors.js';
import { Execution, type ExecutionHooks, type StepRecord, type TaskCall } from '../../src/workflows/interpreter.js';
import type { Json } from '../../src/workflows/json.js';
import { parsePath, readPath, writePath } from '../../src/workflows/paths.js';
import { applyTemplate, compileTemplate } from '../../src/workflows/template.js';

const LIMITS = { maxMapItems: 100, maxMapConcurrency: 10, maxPayloadBytes: 64 * 1024, maxStateReports: 1000 };

type Fn = (input: Json, call: TaskCall) => Json | Promise<Json>;

function hooksFor(fns: Record<string, Fn>, extra: Partial<ExecutionHooks> = {}): ExecutionHooks {
  return {
    invoke: async (call) => {
      const report = { ...emptyReport('test', call.fn), totalMs: 0.5 };
      try {
        return { output: await fns[call.fn]!(call.input, call), report };
      } catch (e) {
        return {
          error: e instanceof StatesError ? e : new StatesError('Tern.FunctionError', String(e), { fromTask: true }),
          report,
        };
      }
    },
    ...extra,
  };
}

async function run(
  def: object,
  input: Json,
  fns: Record<string, Fn> = {},
  extra: Partial<ExecutionHooks> = {},
  deadlineMs = 10_000,
) {
  const machine = parseAsl(JSON.stringify(def), { maxStates: 100 });
  const now = Date.now();
  const exec = new Execution({
    workflow: 'wf',
    runId: 'run-1',
    node: 'test',
    machine,
    input,
    startedAt: now,
    deadline: now + deadlineMs,
    hooks: hooksFor(fns, extra),
    limits: LIMITS,
  });
  return exec.run();
}

describe('paths', () => {
  test('read fields, indexes, quoted names, wildcards, slices and the context', () => {
    const data: Json = { a: { b: [1, 2, 3], 'odd name': true }, list: [{ x: 1 }, { x: 2 }] };
    const read = (p: string) => readPath(parsePath(p), data, { Execution: { Id: 'e' } });
    assert.deepEqual(read('$'), { found: true, value: data });
    assert.deepEqual(read('$.a.b[0]'), { found: true, value: 1 });
    assert.deepEqual(read('$.a.b[-1]'), { found: true, value: 3 });
    assert.deepEqual(read("$.a['odd name']"), { found: true, value: true });
    assert.deepEqual(read('$.list[*].x'), { found: true, value: [1, 2] });
    assert.deepEqual(read('$.a.b[1:]'), { found: true, value: [2, 3] });
    assert.deepEqual(read('$$.Execution.Id'), { found: true, value: 'e' });
    assert.deepEqual(read('$.a.c.d'), { found: false, missing: '$.a.c' });
    assert.throws(() => parsePath('a.b'), /must start with "\$"/);
    assert.throws(() => parsePath('$.a['), /never closed/);
  });

  test('write copies the objects on the way and refuses non-objects', () => {
    const input: Json = { a: { keep: 1 }, n: 5 };
    const out = writePath(parsePath('$.a.result'), input, 42);
    assert.deepEqual(out, { a: { keep: 1, result: 42 }, n: 5 });
    assert.deepEqual(input, { a: { keep: 1 }, n: 5 });
    assert.equal(writePath(parsePath('$.n.x'), input, 1), undefined);
  });
});

describe('templates and intrinsics', () => {
  test('.$ keys take paths and intrinsic calls', () => {
    const t = compileTemplate(
      {
        greeting: 'fixed',
        'name.$': '$.who',
        'msg.$': "States.Format('Hello, {}! You are {}.', $.who, $.age)",
        'parsed.$': 'States.StringToJson($.json)',
        'text.$': 'States.JsonToString($.obj)',
        'arr.$': "States.Array(1, 'two', $.age)",
        'braces.$': "States.Format('\\{literal\\} {}', $.who)",
        nested: { 'id.$': '$$.Execution.Id' },
      },
      'Parameters',
    );
    const out = applyTemplate(
      t,
      { who: 'Ada', age: 36, json: '{"k":[1]}', obj: { a: 1 } },
      { Execution: { Id: 'run-9' } },
    );
    assert.deepEqual(out, {
      greeting: 'fixed',
      name: 'Ada',
      msg: 'Hello, Ada! You are 36.',
      parsed: { k: [1] },
      text: '{"a":1}',
      arr: [1, 'two', 36],
      braces: '{literal} Ada',
      nested: { id: 'run-9' },
    });
  });

  test('bad calls are refused at compile time, missing paths at run time', () => {
    assert.throws(
      () => compileTemplate({ 'x.$': 'States.Nope(1)' }, 'Parameters'),
      /unknown intrinsic function States.Nope/,
    );
    assert.throws(() => compileTemplate({ 'x.$': 'States.JsonToString(1, 2)' }, 'Parameters'), /takes 1 argument/);
    assert.throws(() => compileTemplate({ 'x.$': 'no-path' }, 'Parameters'), /Parameters.x.\$/);
    const t = compileTemplate({ 'x.$': '$.missing' }, 'Parameters');
    assert.throws(
      () => applyTemplate(t, {}, {}),
      (e: unknown) => e instanceof StatesError && e.error === 'States.ParameterPathFailure',
    );
  });
});

describe('choice rules', () => {
  const check = (rule: object, data: Json) => evaluateRule(compileRule(rule as Json, 'rule', false), data, {});
  test('comparisons, their Path variants, And/Or/Not, type tests and StringMatches', () => {
    assert.equal(check({ Variable: '$.n', NumericLessThan: 10 }, { n: 3 }), true);
    assert.equal(check({ Variable: '$.n', NumericGreaterThanEquals: 10 }, { n: 3 }), false);
    assert.equal(check({ Variable: '$.n', NumericEquals: 3 }, { n: '3' }), false);
    assert.equal(check({ Variable: '$.a', NumericLessThanPath: '$.b' }, { a: 1, b: 2 }), true);
    assert.equal(check({ Variable: '$.s', StringEquals: 'x' }, { s: 'x' }), true);
    assert.equal(check({ Variable: '$.s', StringGreaterThan: 'a' }, { s: 'b' }), true);
    assert.equal(check({ Variable: '$.b', BooleanEquals: true }, { b: true }), true);
    assert.equal(
      check({ Variable: '$.t', TimestampLessThan: '2030-01-01T00:00:00Z' }, { t: '2026-12-04T10:00:00.5+01:00' }),
      true,
    );
    assert.equal(check({ Variable: '$.f', StringMatches: 'log-*.txt' }, { f: 'log-2026.txt' }), true);
    assert.equal(check({ Variable: '$.f', StringMatches: 'a\\*b' }, { f: 'a*b' }), true);
    assert.equal(check({ Variable: '$.f', StringMatches: 'a\\*b' }, { f: 'axb' }), false);
    assert.equal(
      check({ And: [{ Variable: '$.n', IsPresent: true }, { Not: { Variable: '$.n', IsNull: true } }] }, { n: 1 }),
      true,
    );
    assert.equal(
      check(
        {
          Or: [
            { Variable: '$.x', IsPresent: true },
            { Variable: '$.n', IsNumeric: true },
          ],
        },
        { n: 1 },
      ),
      true,
    );
    assert.equal(check({ Variable: '$.x', IsPresent: false }, {}), true);
    assert.equal(check({ Variable: '$.x', IsString: true }, { x: 's' }), true);
    assert.equal(check({ Variable: '$.x', IsBoolean: false }, { x: 's' }), true);
    assert.equal(check({ Variable: '$.x', IsTimestamp: true }, { x: '2026-01-01T00:00:00Z' }), true);
    assert.throws(
      () => check({ Variable: '$.missing', NumericEquals: 1 }, {}),
      (e: unknown) => e instanceof StatesError && e.error === 'States.Runtime',
    );
  });

  test('malformed rules name where they are', () => {
    assert.throws(() => compileRule({ Variable: '$.n' }, 'Choices[0]', true), /Choices\[0\]: no comparison operator/);
    assert.throws(() => compileRule({ Variable: '$.n', NumericEquals: 'x' }, 'Choices[0]', true), /a number/);
    assert.throws(
      () => compileRule({ Variable: '$.n', NumericEquals: 1, StringEquals: 'a' }, 'Choices[0]', true),
      /one operator per rule/,
    );
    assert.throws(() => compileRule({ Variable: '$.n', Foo: 1 }, 'Choices[0]', true), /unknown operator "Foo"/);
  });
});

describe('error matching', () => {
  test('States.ALL, States.TaskFailed and the terminal errors', () => {
    const task = new StatesError('Tern.FunctionError', 'x', { fromTask: true });
    assert.equal(errorMatches(['States.TaskFailed'], task), true);
    assert.equal(errorMatches(['States.ALL'], task), true);
    assert.equal(errorMatches(['Other'], task), false);
    assert.equal(
      errorMatches(['States.TaskFailed'], new StatesError('States.Timeout', 'x', { fromTask: true })),
      false,
    );
    assert.equal(errorMatches(['States.ALL'], new StatesError('States.Runtime', 'x')), false);
    assert.equal(errorMatches(['States.ALL'], new StatesError('States.DataLimitExceeded', 'x')), false);
    assert.equal(errorMatches(['States.DataLimitExceeded'], new StatesError('States.DataLimitExceeded', 'x')), true);
  });
});

const seq = {
  StartAt: 'A',
  States: {
    A: { Type: 'Task', Resource: 'inc', Next: 'B' },
    B: { Type: 'Task', Resource: 'inc', ResultPath: '$.b', Next: 'C' },
    C: { Type: 'Pass', Parameters: { 'total.$': '$.b', 'first.$': '$.n' }, End: true },
  },
};
const inc: Fn = (v) => ({ n: ((v as { n: number }).n ?? 0) + 1 });

describe('runs', () => {
  test('a sequence with ResultPath and Parameters', async () => {
    const out = await run(seq, { n: 1 }, { inc });
    assert.ok(out.ok);
    assert.deepEqual(out.output, { total: { n: 3 }, first: 2 });
    assert.equal(out.report.stateCount, 3);
    assert.deepEqual(
      out.report.states.map((s) => s.name),
      ['A', 'B', 'C'],
    );
    assert.equal(out.report.tasksMs, 1);
  });

  test('Retry then Catch: attempts counted, the error placed by the catcher ResultPath', async () => {
    let calls = 0;
    const def = {
      StartAt: 'T',
      States: {
        T: {
          Type: 'Task',
          Resource: 'flaky',
          Retry: [{ ErrorEquals: ['Boom'], IntervalSeconds: 0.001, MaxAttempts: 2, BackoffRate: 1 }],
          Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.err', Next: 'Handled' }],
          End: true,
        },
        Handled: { Type: 'Pass', End: true },
      },
    };
    const out = await run(
      def,
      { keep: 1 },
      {
        flaky: () => {
          calls++;
          throw new StatesError('Boom', `attempt ${calls}`, { fromTask: true });
        },
      },
    );
    assert.ok(out.ok);
    assert.equal(calls, 3);
    assert.deepEqual(out.output, { keep: 1, err: { Error: 'Boom', Cause: 'attempt 3' } });
    assert.equal(out.report.states[0]!.retries, 2);
    assert.equal(out.report.states[0]!.status, 'caught');
  });

  test('Map with MaxConcurrency and ItemSelector, Parallel with branches', async () => {
    let inFlight = 0;
    let peak = 0;
    const slow: Fn = async (v) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return (v as { x: number; i: number }).x * 10 + (v as { i: number }).i;
    };
    const def = {
      StartAt: 'M',
      States: {
        M: {
          Type: 'Map',
          ItemsPath: '$.xs',
          MaxConcurrency: 2,
          ItemSelector: { 'x.$': '$$.Map.Item.Value', 'i.$': '$$.Map.Item.Index' },
          ItemProcessor: { StartAt: 'S', States: { S: { Type: 'Task', Resource: 'slow', End: true } } },
          ResultPath: '$.ys',
          Next: 'P',
        },
        P: {
          Type: 'Parallel',
          Branches: [
            { StartAt: 'L', States: { L: { Type: 'Pass', InputPath: '$.ys[0]', End: true } } },
            { StartAt: 'R', States: { R: { Type: 'Pass', Result: 'right', End: true } } },
          ],
          End: true,
        },
      },
    };
    const out = await run(def, { xs: [1, 2, 3, 4] }, { slow });
    assert.ok(out.ok, JSON.stringify(out));
    assert.deepEqual(out.output, [10, 'right']);
    assert.equal(peak, 2);
  });

  test('a Task past its TimeoutSeconds fails with States.Timeout; the run past its own limit too', async () => {
    const hang: Fn = () => new Promise(() => undefined);
    const def = { StartAt: 'T', States: { T: { Type: 'Task', Resource: 'hang', TimeoutSeconds: 0.05, End: true } } };
    const out = await run(def, {}, { hang });
    assert.equal(out.ok, false);
    assert.equal(!out.ok && out.error.error, 'States.Timeout');
    const loop = {
      StartAt: 'L',
      States: {
        L: { Type: 'Choice', Choices: [{ Variable: '$.x', IsPresent: false, Next: 'L' }], Default: 'E' },
        E: { Type: 'Succeed' },
      },
    };
    const looped = await run(loop, {}, {}, {}, 50);
    assert.equal(!looped.ok && looped.error.error, 'States.Timeout');
  });

  test('a journal replays completed states instead of running them again', async () => {
    const journal: StepRecord[] = [];
    let runs = 0;
    const counted: Fn = (v) => {
      runs++;
      return inc(v, undefined as never);
    };
    const first = await run(seq, { n: 1 }, { inc: counted }, { completed: async (r) => void journal.push(r) });
    assert.ok(first.ok);
    assert.equal(runs, 2);
    const partial = new Map(journal.slice(0, 1).map((r) => [r.k, r]));
    const second = await run(seq, { n: 1 }, { inc: counted }, { recall: (k) => partial.get(k) });
    assert.ok(second.ok);
    assert.deepEqual(second.output, first.output);
    assert.equal(runs, 3, 'only B ran again');
    assert.equal(second.report.states[0]!.status, 'replayed');
  });
});

describe('definition checks', () => {
  const bad = (def: unknown, pattern: RegExp) =>
    assert.throws(
      () => parseAsl(typeof def === 'string' ? def : JSON.stringify(def), { maxStates: 10 }),
      (e: unknown) => e instanceof AslError && pattern.test(e.message),
    );
  test('each problem names its state and the reason', () => {
    bad('{"StartAt": ', /not JSON/);
    bad({ States: { A: { Type: 'Succeed' } } }, /StartAt is missing/);
    bad({ StartAt: 'X', States: { A: { Type: 'Succeed' } } }, /StartAt "X" names no state/);
    bad({ StartAt: 'A', States: { A: { Type: 'Pass', Next: 'Nowhere' } } }, /state "A": Next "Nowhere" names no state/);
    bad(
      { StartAt: 'A', States: { A: { Type: 'Pass', Next: 'B' }, B: { Type: 'Pass', Next: 'A' } } },
      /state "A": cannot reach an end/,
    );
    bad(
      { StartAt: 'A', States: { A: { Type: 'Succeed' }, B: { Type: 'Succeed' } } },
      /state "B": no transition leads to it/,
    );
    bad({ StartAt: 'A', States: { A: { Type: 'Task', End: true } } }, /state "A": Resource is missing/);
    bad({ StartAt: 'A', States: { A: { Type: 'Magic', End: true } } }, /Type "Magic" is not a state type/);
    bad({ StartAt: 'A', States: { A: { Type: 'Pass', End: true, Nxt: 'x' } } }, /unknown field "Nxt"/);
    bad({ StartAt: 'A', States: { A: { Type: 'Pass' } } }, /neither Next nor "End": true/);
    bad(
      {
        StartAt: 'A',
        States: Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`S${i}`, { Type: 'Succeed' }])),
      },
      /more than 10 states/,
    );
    bad(
      {
        StartAt: 'P',
        States: {
          P: { Type: 'Parallel', End: true, Branches: [{ StartAt: 'X', States: { X: { Type: 'Pass', Next: 'Y' } } }] },
        },
      },
      /state "P.Branches\[0\] > X": Next "Y" names no state/,
    );
  });
});
