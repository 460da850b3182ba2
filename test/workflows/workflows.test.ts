/**
 * Workflows on a real node: deploy, list, describe, delete; sync runs through real functions
 * (python and wasm) — a sequence, Choice both ways, Parallel, Map, Retry then Catch, timeouts —;
 * async runs read back from GET /v1/calls/{id}; private functions only for runs with the token;
 * every bad definition refused with a 400 naming the state; the node's bounds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, REPO, startTern, type TernProcess } from '../helpers/node.js';
import {
  deployExample,
  deployFunction,
  deployWorkflow,
  FUNCTIONS,
  putWorkflow,
  runWorkflow,
  waitForCall,
} from './helpers.js';

const SEQUENCE = {
  Comment: 'three increments',
  StartAt: 'One',
  States: {
    One: { Type: 'Task', Resource: 'inc', Next: 'Two' },
    Two: { Type: 'Task', Resource: 'inc', Next: 'Three' },
    Three: { Type: 'Task', Resource: 'inc', End: true },
  },
};

const CHOICE = {
  StartAt: 'Big?',
  States: {
    'Big?': {
      Type: 'Choice',
      Choices: [
        { Variable: '$.n', NumericGreaterThanEquals: 10, Next: 'Big' },
        {
          And: [
            { Variable: '$.n', IsNumeric: true },
            { Variable: '$.n', NumericLessThan: 10 },
          ],
          Next: 'Small',
        },
      ],
      Default: 'Odd',
    },
    Big: { Type: 'Task', Resource: 'inc', ResultPath: '$.after', Next: 'MarkBig' },
    MarkBig: { Type: 'Pass', Result: 'big', ResultPath: '$.size', End: true },
    Small: { Type: 'Pass', Result: 'small', ResultPath: '$.size', End: true },
    Odd: { Type: 'Fail', Error: 'Odd', Cause: 'not a number' },
  },
};

describe('workflows', () => {
  let node: TernProcess;
  let configDir: string;
  before(async () => {
    configDir = await mkdtemp(join(tmpdir(), 'tern-wf-config-'));
    const config = join(configDir, 'tern.toml');
    await writeFile(
      config,
      '[workflows]\nmax-states = 20\nmax-map-items = 5\nmax-payload = 4096\nmax-run-time = "4s"\n',
    );
    node = await startTern({ args: ['--config', config] });
    for (const [name, files] of Object.entries(FUNCTIONS)) await deployFunction(node, name, files);
    await deployExample(node, 'square');
    await deployExample(node, 'sieve');
  });
  after(async () => {
    assert.equal(await node.stop({ cleanup: true }), 0);
    await rm(configDir, { recursive: true, force: true });
  });

  test('deploy, list, describe, update, delete', async () => {
    const created = await putWorkflow(node, 'seq', SEQUENCE);
    assert.equal(created.status, 201);
    const desc = (await created.json()) as { name: string; states: number; functions: string[]; version: string };
    assert.deepEqual([desc.name, desc.states, desc.functions], ['seq', 3, ['inc']]);
    const updated = await putWorkflow(node, 'seq', { ...SEQUENCE, Comment: 'changed' });
    assert.equal(updated.status, 200);
    assert.notEqual(((await updated.json()) as { version: string }).version, desc.version);
    const list = (await (await node.api('GET', '/v1/workflows')).json()) as { workflows: { name: string }[] };
    assert.ok(list.workflows.some((w) => w.name === 'seq'));
    const one = (await (await node.api('GET', '/v1/workflows/seq')).json()) as { definition: { Comment: string } };
    assert.equal(one.definition.Comment, 'changed');
    await deployWorkflow(node, 'gone', SEQUENCE);
    assert.equal((await node.api('DELETE', '/v1/workflows/gone')).status, 204);
    assert.equal((await node.api('DELETE', '/v1/workflows/gone')).status, 404);
    assert.equal((await node.api('GET', '/v1/workflows/gone')).status, 404);
    assert.equal((await fetch(`${node.url}/wf/gone`, { method: 'POST' })).status, 404);
    assert.equal((await node.api('GET', '/v1/workflows', { token: null })).status, 401);
    assert.equal(
      (await putWorkflow({ ...node, api: (m, p, i) => node.api(m, p, { ...i, token: null }) }, 'x', SEQUENCE)).status,
      401,
    );
  });

  test('a sequence: each Task a real call, the report lists every state and the total', async () => {
    await deployWorkflow(node, 'seq', SEQUENCE);
    const reply = await runWorkflow(node, 'seq', { n: 1, keep: 'me' });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual(reply.body, { n: 4, keep: 'me' });
    assert.equal(reply.report.states, 3);
    assert.ok(reply.report.tasksMs > 0 && reply.report.totalMs >= reply.report.tasksMs);
    const run = (await (await node.api('GET', `/v1/workflows/seq/runs/${reply.run}`)).json()) as {
      state: string;
      report: { states: { name: string; function: string; call: { function: string; node: string } }[] };
    };
    assert.equal(run.state, 'succeeded');
    assert.deepEqual(
      run.report.states.map((s) => [s.name, s.function, s.call.function]),
      [
        ['One', 'inc', 'inc'],
        ['Two', 'inc', 'inc'],
        ['Three', 'inc', 'inc'],
      ],
    );
    const runs = (await (await node.api('GET', '/v1/workflows/seq/runs')).json()) as { runs: { id: string }[] };
    assert.equal(runs.runs[0]!.id, reply.run);
  });

  test('Choice both ways, and its Default to a Fail state', async () => {
    await deployWorkflow(node, 'choice', CHOICE);
    const big = await runWorkflow(node, 'choice', { n: 20 });
    assert.deepEqual(big.body, { n: 20, after: { n: 21 }, size: 'big' });
    const small = await runWorkflow(node, 'choice', { n: 1 });
    assert.deepEqual(small.body, { n: 1, size: 'small' });
    const odd = await runWorkflow(node, 'choice', { n: 'x' });
    assert.equal(odd.status, 502);
    const err = (odd.body as { error: { code: string; error: string; cause: string } }).error;
    assert.deepEqual([err.code, err.error, err.cause], ['workflow_failed', 'Odd', 'not a number']);
  });

  test('Parallel and Map through a wasm function, with MaxConcurrency and ItemSelector', async () => {
    await deployWorkflow(node, 'fan', {
      StartAt: 'Both',
      States: {
        Both: {
          Type: 'Parallel',
          Branches: [
            { StartAt: 'Sq', States: { Sq: { Type: 'Task', Resource: 'square', InputPath: '$.x', End: true } } },
            {
              StartAt: 'Up',
              States: {
                Up: { Type: 'Task', Resource: 'inc', Parameters: { 'n.$': '$.x' }, OutputPath: '$.n', End: true },
              },
            },
          ],
          ResultPath: '$.both',
          Next: 'Each',
        },
        Each: {
          Type: 'Map',
          ItemsPath: '$.xs',
          MaxConcurrency: 2,
          ItemSelector: { 'v.$': '$$.Map.Item.Value' },
          ItemProcessor: {
            StartAt: 'Sq2',
            States: { Sq2: { Type: 'Task', Resource: 'square', InputPath: '$.v', End: true } },
          },
          ResultPath: '$.squares',
          Next: 'Shape',
        },
        Shape: {
          Type: 'Pass',
          Parameters: {
            'both.$': '$.both',
            'squares.$': '$.squares',
            'text.$': "States.Format('{} items', States.ArrayLength($.squares))",
          },
          End: true,
        },
      },
    });
    const reply = await runWorkflow(node, 'fan', { x: 7, xs: [1, 2, 3, 4] });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual(reply.body, { both: [49, 8], squares: [1, 4, 9, 16], text: '4 items' });
    assert.equal(reply.report.states, 1 + 2 + 1 + 4 + 1);
  });

  test('examples/workflow-primes runs over the sieve and square examples', async () => {
    await deployWorkflow(node, 'primes', await readFile(join(REPO, 'examples/workflow-primes/workflow.json'), 'utf8'));
    const reply = await runWorkflow(node, 'primes', { ns: [10, 100, 10000] });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual(reply.body, {
      summary: '1229 primes up to 10000: many',
      counts: [4, 25, 1229],
      largestSquared: 9973 * 9973,
    });
  });

  test('the CLI: tern workflow deploy, ls, invoke (sync and async), runs, rm', async () => {
    const file = join(configDir, 'cli-seq.json');
    await writeFile(file, JSON.stringify(SEQUENCE));
    const tern = (...args: string[]) => {
      const r = spawnSync(process.execPath, [CLI, ...args], {
        env: { ...process.env, TERN_URL: node.url, TERN_TOKEN: node.token },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(r.status, 0, `tern ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    assert.match(tern('workflow', 'deploy', file), /deployed workflow cli-seq \(3 states, functions: inc\)/);
    assert.match(tern('workflow', 'ls'), /cli-seq\s+3\s+inc/);
    assert.deepEqual(JSON.parse(tern('workflow', 'invoke', 'cli-seq', '-d', '{"n": 5}')), { n: 8 });
    const id = tern('workflow', 'invoke', 'cli-seq', '--async', '-d', '{"n": 1}').trim();
    const record = JSON.parse(tern('poll', id, '--wait', '--json')) as { state: string; kind: string };
    assert.deepEqual([record.state, record.kind], ['done', 'workflow']);
    assert.match(tern('workflow', 'runs', 'cli-seq'), new RegExp(id));
    assert.match(tern('workflow', 'rm', 'cli-seq'), /removed workflow cli-seq/);
    assert.equal((await node.api('GET', '/v1/workflows/cli-seq')).status, 404);
  });

  test('Retry then Catch: the retries are taken, then the catcher handles the error', async () => {
    await deployWorkflow(node, 'retry', {
      StartAt: 'Try',
      States: {
        Try: {
          Type: 'Task',
          Resource: 'boom',
          Retry: [{ ErrorEquals: ['Boom'], IntervalSeconds: 0.05, MaxAttempts: 2, BackoffRate: 2 }],
          Catch: [{ ErrorEquals: ['States.TaskFailed'], ResultPath: '$.caught', Next: 'Recovered' }],
          End: true,
        },
        Recovered: { Type: 'Pass', End: true },
      },
    });
    const reply = await runWorkflow(node, 'retry', { id: 1 });
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.deepEqual(reply.body, { id: 1, caught: { Error: 'Boom', Cause: 'it always fails' } });
    const run = (await (await node.api('GET', `/v1/workflows/retry/runs/${reply.run}`)).json()) as {
      report: { states: { name: string; status: string; retries?: number; error?: string }[] };
    };
    assert.deepEqual(run.report.states[0], {
      ...run.report.states[0],
      name: 'Try',
      status: 'caught',
      retries: 2,
      error: 'Boom',
    });
  });

  test('timeouts: a Task past its TimeoutSeconds, a run past its own and past the node limit', async () => {
    await deployWorkflow(node, 'slow-task', {
      StartAt: 'Slow',
      States: { Slow: { Type: 'Task', Resource: 'sleepy', TimeoutSeconds: 0.3, End: true } },
    });
    const t0 = Date.now();
    const task = await runWorkflow(node, 'slow-task', { s: 3 });
    assert.equal(task.status, 504);
    assert.equal((task.body as { error: { error: string } }).error.error, 'States.Timeout');
    assert.ok(Date.now() - t0 < 2500, 'the run ended at the state timeout, not when the function did');
    await deployWorkflow(node, 'slow-run', {
      TimeoutSeconds: 0.3,
      StartAt: 'Wait',
      States: { Wait: { Type: 'Wait', Seconds: 3, End: true } },
    });
    const run = await runWorkflow(node, 'slow-run', {});
    assert.equal(run.status, 504);
    assert.match((run.body as { error: { cause: string } }).error.cause, /time limit/);
    await deployWorkflow(node, 'too-long', {
      StartAt: 'Wait',
      States: { Wait: { Type: 'Wait', Seconds: 30, End: true } },
    });
    const bounded = await runWorkflow(node, 'too-long', {});
    assert.equal(bounded.status, 504, 'max-run-time = 4s bounds a run whatever it says');
  });

  test('async: 202 with an id, the result and the run report at GET /v1/calls/{id}', async () => {
    await deployWorkflow(node, 'seq', SEQUENCE);
    const res = await fetch(`${node.url}/async/wf/seq`, { method: 'POST', body: '{"n": 10}' });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    assert.equal(res.headers.get('location'), `/v1/calls/${id}`);
    const record = await waitForCall(node, id);
    assert.equal(record.state, 'done');
    assert.equal(record.kind, 'workflow');
    assert.equal(record.function, 'seq');
    assert.deepEqual(JSON.parse(Buffer.from(record.result!.body, 'base64').toString()), { n: 13 });
    assert.deepEqual(
      record.report!.workflow.states.map((s) => s.name),
      ['One', 'Two', 'Three'],
    );
  });

  test('a private function runs only in runs made with the token', async () => {
    await deployWorkflow(node, 'private', {
      StartAt: 'S',
      States: { S: { Type: 'Task', Resource: 'secret', End: true } },
    });
    const anonymous = await runWorkflow(node, 'private', {});
    assert.equal(anonymous.status, 502);
    assert.equal((anonymous.body as { error: { error: string } }).error.error, 'States.Permissions');
    const withToken = await runWorkflow(node, 'private', {}, true);
    assert.deepEqual(withToken.body, { secret: 42 });
  });

  test('bad definitions: 400 naming the state and the reason, nothing stored', async () => {
    const cases: [unknown, RegExp][] = [
      ['{"StartAt": "A", "States": {', /not JSON/],
      [{ States: { A: { Type: 'Succeed' } } }, /StartAt is missing/],
      [{ StartAt: 'Nope', States: { A: { Type: 'Succeed' } } }, /StartAt "Nope" names no state/],
      [
        { StartAt: 'A', States: { A: { Type: 'Task', Resource: 'inc', Next: 'Nowhere' } } },
        /state "A": Next "Nowhere" names no state/,
      ],
      [
        {
          StartAt: 'A',
          States: {
            A: { Type: 'Pass', Next: 'B' },
            B: { Type: 'Choice', Choices: [{ Variable: '$.x', IsPresent: true, Next: 'A' }], Default: 'A' },
          },
        },
        /state "A": cannot reach an end/,
      ],
      [
        { StartAt: 'A', States: { A: { Type: 'Task', Resource: 'no-such-fn', End: true } } },
        /state "A": Resource "no-such-fn" is not a function deployed/,
      ],
      [
        {
          StartAt: 'A',
          States: { A: { Type: 'Choice', Choices: [{ Variable: '$.n', NumericEquals: 'one', Next: 'A' }] } },
        },
        /state "A": Choices\[0\].NumericEquals: a number/,
      ],
      [
        {
          StartAt: 'A',
          States: Object.fromEntries(Array.from({ length: 21 }, (_, i) => [i ? `S${i}` : 'A', { Type: 'Succeed' }])),
        },
        /more than 20 states/,
      ],
    ];
    for (const [def, pattern] of cases) {
      const res = await putWorkflow(node, 'bad', def);
      assert.equal(res.status, 400, JSON.stringify(def));
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'bad_request');
      assert.match(body.error.message, pattern);
    }
    assert.equal((await node.api('GET', '/v1/workflows/bad')).status, 404);
  });

  test('bounds: Map items, payload size, bad input', async () => {
    await deployWorkflow(node, 'map', {
      StartAt: 'M',
      States: {
        M: { Type: 'Map', ItemProcessor: { StartAt: 'P', States: { P: { Type: 'Pass', End: true } } }, End: true },
      },
    });
    const many = await runWorkflow(node, 'map', [1, 2, 3, 4, 5, 6]);
    assert.equal(many.status, 502);
    assert.match(
      (many.body as { error: { message: string } }).error.message,
      /States.Runtime: Map "M": 6 items is over the node's limit of 5/,
    );
    const big = await fetch(`${node.url}/wf/map`, { method: 'POST', body: JSON.stringify(['x'.repeat(5000)]) });
    assert.equal(big.status, 413);
    const notJson = await fetch(`${node.url}/wf/map`, { method: 'POST', body: '{nope' });
    assert.equal(notJson.status, 400);
    await deployWorkflow(node, 'grow', {
      StartAt: 'Grow',
      States: {
        Grow: {
          Type: 'Task',
          Resource: 'inc',
          Parameters: { 'pad.$': "States.Format('{}{}{}{}', $.s, $.s, $.s, $.s)" },
          End: true,
        },
      },
    });
    const grown = await runWorkflow(node, 'grow', { s: 'y'.repeat(1500) });
    assert.equal(grown.status, 502);
    assert.equal((grown.body as { error: { error: string } }).error.error, 'States.DataLimitExceeded');
  });
});
