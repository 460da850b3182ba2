/**
 * The Serverledge profile against the requests Serverledge's own client sends, replies checked
 * field by field. Request shapes: grussorusso/serverledge internal/cli/cli.go (create, invoke,
 * poll, delete, list, status) with internal/client/types.go and internal/function/function.go;
 * replies: internal/api/api.go, internal/function/request.go (Response, ExecutionReport),
 * internal/registration/types.go (StatusInformation) and docs/api.md. The registry is real; the
 * scheduler and log store are in-test fakes of Tern's interfaces.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { create as createTar } from 'tar';
import { serverledgeProfile } from '../../src/compat/serverledge/index.js';
import { TernError } from '../../src/core/errors.js';
import type { Invocation } from '../../src/core/invocation.js';
import { errorResult } from '../../src/core/result.js';
import type { CallRecord, Scheduler } from '../../src/scheduler/types.js';
import { FIXTURES, result, startHarness, TOKEN, type Harness } from '../fixtures/compat/openfaas/harness.js';

const SL = join(FIXTURES, 'serverledge');
let h: Harness;

before(async () => {
  h = await startHarness(serverledgeProfile);
});
after(async () => h.close());

beforeEach(async () => {
  for (const fn of h.registry.list()) await h.registry.remove(fn.spec.name);
  h.scheduler.invoked.length = 0;
  h.scheduler.submitted.length = 0;
  h.scheduler.statuses.clear();
  h.logs.lines.length = 0;
  h.scheduler.call = () => undefined;
  h.scheduler.respond = (inv) => result(inv, 200, { 'content-type': 'application/json' }, '{"IsPrime": true}');
});

/** As the CLI's readSourcesAsTar with a single file: a plain tar holding just that file (utils/tar.go). */
async function tarOf(file: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of createTar({ cwd: SL, portable: true }, [file])) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('base64');
}

/** The CLI's create: function.Function marshalled with every field (cli.go create()). */
async function createBody(overrides: Record<string, unknown> = {}): Promise<string> {
  return JSON.stringify({
    Name: 'isprime',
    Runtime: 'python310',
    MemoryMB: 128,
    CPUDemand: 0,
    Handler: 'isprime.handler',
    TarFunctionCode: await tarOf('isprime.py'),
    CustomImage: '',
    ...overrides,
  });
}

const post = (url: string, payload: string, headers: Record<string, string> = {}) =>
  h.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload });

/** The CLI's invoke: client.InvocationRequest with every field (cli.go invoke()). */
function invocation(params: Record<string, unknown>, opts: { async?: boolean; returnOutput?: boolean } = {}): string {
  return JSON.stringify({
    Params: params,
    QoSClass: 0,
    QoSMaxRespT: -1,
    CanDoOffloading: true,
    Async: opts.async ?? false,
    ReturnOutput: opts.returnOutput ?? false,
  });
}

/** function.Response: Success, then ExecutionReport's fields in the Go struct's order; SchedAction for older clients. */
const REPORT_KEYS = [
  'Success',
  'Result',
  'ResponseTime',
  'IsWarmStart',
  'InitTime',
  'QueueingTime',
  'OffloadLatency',
  'Duration',
  'Output',
  'ExecutionArea',
  'ExecutionNode',
  'SchedAction',
];

describe('POST /create', () => {
  test('a python310 function becomes a python function with a generated entry; the reply is {"Created": name}', async () => {
    const res = await post('/create', await createBody());
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^application\/json/);
    assert.deepEqual(res.json(), { Created: 'isprime' });
    const fn = h.registry.get('isprime')!;
    assert.equal(fn.spec.runtime, 'python');
    assert.equal(fn.spec.handler, '_serverledge_entry:handle');
    assert.equal(fn.spec.memory, 128);
    assert.equal(fn.spec.description, 'Serverledge function (runtime python310, handler isprime.handler)');
    assert.equal(await readFile(join(fn.dir, 'isprime.py'), 'utf8'), await readFile(join(SL, 'isprime.py'), 'utf8'));
    const entry = await readFile(join(fn.dir, '_serverledge_entry.py'), 'utf8');
    assert.match(entry, /import_module\("isprime"\), "handler"\)/);
    assert.match(entry, /json\.dumps\(_handler\(params, \{\}\)\)/);
  });

  test('nodejs17ng and nodejs17 become node functions calling the handler file', async () => {
    for (const runtime of ['nodejs17ng', 'nodejs17']) {
      const name = `sieve-${runtime}`;
      const res = await post(
        '/create',
        await createBody({
          Name: name,
          Runtime: runtime,
          Handler: 'sieve.js',
          MemoryMB: 256,
          TarFunctionCode: await tarOf('sieve.js'),
        }),
      );
      assert.equal(res.statusCode, 200, res.body);
      const fn = h.registry.get(name)!;
      assert.equal(fn.spec.runtime, 'node');
      assert.equal(fn.spec.handler, '_serverledge_entry.mjs');
      assert.equal(fn.spec.memory, 256);
      assert.match(
        await readFile(join(fn.dir, '_serverledge_entry.mjs'), 'utf8'),
        /new URL\("\.\/sieve\.js", import\.meta\.url\)/,
      );
    }
  });

  test('field names match in any case, as Go decodes them', async () => {
    const res = await post(
      '/create',
      JSON.stringify({
        name: 'hello',
        runtime: 'python310',
        handler: 'hello.handler',
        tarfunctioncode: await tarOf('hello.py'),
      }),
    );
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(h.registry.get('hello')?.spec.memory, 128);
  });

  test('an existing name is 409 with an empty body', async () => {
    assert.equal((await post('/create', await createBody())).statusCode, 200);
    const res = await post('/create', await createBody());
    assert.equal(res.statusCode, 409);
    assert.equal(res.body, '');
  });

  test('an unknown runtime is 404 with the JSON string "Invalid runtime."; custom images are refused the same way', async () => {
    const res = await post('/create', await createBody({ Runtime: 'python38' }));
    assert.equal(res.statusCode, 404);
    assert.match(res.headers['content-type'] as string, /^application\/json/);
    assert.equal(res.json(), 'Invalid runtime.');
    const custom = await post(
      '/create',
      await createBody({ Runtime: 'custom', CustomImage: 'me/fn:latest', TarFunctionCode: '' }),
    );
    assert.equal(custom.statusCode, 404);
    assert.match(custom.json() as string, /^Invalid runtime\. Tern runs no Serverledge container images/);
    const go = await post('/create', await createBody({ Runtime: 'go125', Handler: 'main' }));
    assert.equal(go.statusCode, 404);
    assert.match(go.json() as string, /^Invalid runtime\. Tern builds no Go/);
    assert.equal(h.registry.list().length, 0);
  });

  test("today's runtimes: python314 and python312ml are python functions, MaxConcurrency their concurrent requests", async () => {
    for (const runtime of ['python314', 'python312ml']) {
      const res = await post('/create', await createBody({ Name: runtime, Runtime: runtime, MaxConcurrency: 4 }));
      assert.equal(res.statusCode, 200, res.body);
      const fn = h.registry.get(runtime)!;
      assert.equal(fn.spec.runtime, 'python');
      assert.equal(fn.spec.handler, '_serverledge_entry:handle');
      assert.equal(fn.spec.concurrentRequests, 4);
    }
    // nodejs17ng serves one request at a time (ConcurrencySupported false): Serverledge forces 1.
    const node = await post(
      '/create',
      await createBody({
        Name: 'sieve',
        Runtime: 'nodejs17ng',
        Handler: 'sieve.js',
        MaxConcurrency: 4,
        TarFunctionCode: await tarOf('sieve.js'),
      }),
    );
    assert.equal(node.statusCode, 200, node.body);
    assert.equal(h.registry.get('sieve')!.spec.concurrentRequests, 1);
  });

  test('POST /update replaces an existing function and creates a missing one: {"Created": name}', async () => {
    assert.equal((await post('/create', await createBody())).statusCode, 200);
    const first = h.registry.get('isprime')!;
    const updated = await post('/update', await createBody({ MemoryMB: 512 }));
    assert.equal(updated.statusCode, 200, updated.body);
    assert.deepEqual(updated.json(), { Created: 'isprime' });
    assert.equal(h.registry.get('isprime')!.spec.memory, 512);
    assert.notEqual(h.registry.get('isprime')!.version, first.version);
    const created = await post(
      '/update',
      await createBody({ Name: 'hello', Handler: 'hello.handler', TarFunctionCode: await tarOf('hello.py') }),
    );
    assert.equal(created.statusCode, 200, created.body);
    assert.ok(h.registry.get('hello'));
  });

  test('MemoryMB below 1, a fraction or beyond 65536 is refused with 400, on /create and /update', async () => {
    for (const memory of [-5, 0, 1.5, 1e9]) {
      for (const path of ['/create', '/update']) {
        const res = await post(path, await createBody({ MemoryMB: memory }));
        assert.equal(res.statusCode, 400, `${path} MemoryMB ${memory}: ${res.body}`);
        assert.match(res.body, /MemoryMB: .* from 1 to 65536/);
      }
    }
    assert.equal(h.registry.list().length, 0);
  });

  test('bad requests are 400 with a message naming the field', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ Name: 'Is_Prime' }, /invalid function name "Is_Prime"/],
      [{ Handler: '' }, /Handler: missing/],
      [{ Handler: 'isprime' }, /"<module>\.<function>"/],
      [{ Handler: 'other.handler' }, /the code has no other\.py/],
      [{ TarFunctionCode: '' }, /TarFunctionCode: missing/],
      [{ TarFunctionCode: 'not base64!' }, /TarFunctionCode: not base64/],
      [{ MemoryMB: 'lots' }, /memorymb/],
    ];
    for (const [overrides, message] of cases) {
      const res = await post('/create', await createBody(overrides));
      assert.equal(res.statusCode, 400, JSON.stringify(overrides));
      assert.match(res.headers['content-type'] as string, /^text\/plain/);
      assert.match(res.body, message);
    }
    const notJson = await post('/create', '{');
    assert.equal(notJson.statusCode, 400);
    assert.equal(h.registry.list().length, 0);
  });
});

describe('POST /delete and GET /function', () => {
  test('list names every function; delete answers {"Deleted": name}, then 404 "Unknown function"', async () => {
    await post('/create', await createBody());
    await post(
      '/create',
      await createBody({ Name: 'hello', Handler: 'hello.handler', TarFunctionCode: await tarOf('hello.py') }),
    );
    const list = await h.app.inject({ method: 'GET', url: '/function' });
    assert.equal(list.statusCode, 200);
    assert.deepEqual(list.json(), ['hello', 'isprime']);

    const del = await post(
      '/delete',
      JSON.stringify({
        Name: 'isprime',
        Runtime: '',
        MemoryMB: 0,
        CPUDemand: 0,
        Handler: '',
        TarFunctionCode: '',
        CustomImage: '',
      }),
    );
    assert.equal(del.statusCode, 200);
    assert.deepEqual(del.json(), { Deleted: 'isprime' });
    assert.equal(h.registry.get('isprime'), undefined);
    const again = await post('/delete', JSON.stringify({ Name: 'isprime' }));
    assert.equal(again.statusCode, 404);
    assert.equal(again.body, 'Unknown function');
    assert.deepEqual((await h.app.inject({ method: 'GET', url: '/function' })).json(), ['hello']);
  });
});

describe('POST /invoke/<fn>', () => {
  beforeEach(async () => {
    await post('/create', await createBody());
  });

  test('Params reach the function as its JSON body; the reply is Response{Success, ExecutionReport} in seconds', async () => {
    h.scheduler.respond = (inv) => ({
      ...result(inv, 200, { 'content-type': 'application/json' }, '{"IsPrime": true}'),
      report: { ...result(inv, 200, {}, '').report, cold: true, queueMs: 2, initMs: 40, runMs: 3, totalMs: 46 },
    });
    const res = await post('/invoke/isprime', invocation({ n: '17' }));
    assert.equal(res.statusCode, 200, res.body);
    const inv = h.scheduler.invoked[0]!;
    assert.equal(inv.function, 'isprime');
    assert.equal(inv.method, 'POST');
    assert.equal(inv.trigger, 'compat');
    assert.equal(inv.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(inv.body.toString()), { n: '17' });
    const body = res.json();
    assert.deepEqual(Object.keys(body), REPORT_KEYS);
    assert.deepEqual(body, {
      Success: true,
      Result: '{"IsPrime": true}',
      ResponseTime: 0.046,
      IsWarmStart: false,
      InitTime: 0.04,
      QueueingTime: 0.002,
      OffloadLatency: 0,
      Duration: 0.003,
      Output: '',
      ExecutionArea: 'default',
      ExecutionNode: 'test-node',
      SchedAction: '',
    });
    // The load balancer's headers (api.go setMetricsHeaders).
    assert.equal(res.headers['serverledge-node-name'], h.deps.nodeName);
    assert.match(res.headers['serverledge-free-mem'] as string, /^\d+$/);
    assert.match(res.headers['serverledge-timestamp'] as string, /^\d{10}$/);
    assert.match(res.headers['serverledge-free-cpu'] as string, /^\d+\.\d{6}$/);
    assert.ok(res.headers['serverledge-node-arch']);
  });

  test('an empty body and null Params invoke with {}', async () => {
    await post('/invoke/isprime', '');
    await post('/invoke/isprime', JSON.stringify({ Params: null }));
    assert.deepEqual(
      h.scheduler.invoked.map((i) => i.body.toString()),
      ['{}', '{}'],
    );
  });

  test("ReturnOutput hands back the call's stdout, a newline, its stderr", async () => {
    h.scheduler.respond = (inv: Invocation) => {
      const base = { time: new Date().toISOString(), fn: inv.function, instance: 'isprime-1' };
      h.logs.emit({ ...base, call: inv.id, stream: 'stdout', line: 'Checking n = 17' });
      h.logs.emit({ ...base, call: 'someone-else', stream: 'stdout', line: 'not mine' });
      h.logs.emit({ ...base, call: inv.id, stream: 'stderr', line: 'warning' });
      return result(inv, 200, {}, '{"IsPrime": true}');
    };
    const res = await post('/invoke/isprime', invocation({ n: '17' }, { returnOutput: true }));
    assert.equal(res.json().Output, 'Checking n = 17\n\nwarning\n');
  });

  test('an offloaded call reports SchedAction "O" and the forward\'s latency', async () => {
    h.scheduler.respond = (inv) => {
      const r = result(inv, 200, {}, 'true');
      return {
        ...r,
        report: {
          ...r.report,
          offloaded: true,
          hops: [{ node: 'peer', ms: 30 }],
          queueMs: 0,
          initMs: 5,
          runMs: 10,
          totalMs: 31,
        },
      };
    };
    const body = (await post('/invoke/isprime', invocation({ n: '3' }))).json();
    assert.equal(body.SchedAction, 'O');
    assert.equal(body.OffloadLatency, 0.015);
    assert.equal(body.ExecutionNode, 'test-node');
    assert.equal(body.ExecutionArea, '', "another node ran it: its area is not this node's");
    assert.equal(body.IsWarmStart, true);
  });

  test('failures: unknown function 404 "Function unknown", no capacity 429, a crash 500 with the reason', async () => {
    const unknown = await post('/invoke/nope', invocation({}));
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.body, 'Function unknown');

    h.scheduler.respond = (inv) =>
      errorResult(new TernError('queue_full', 'queue full', { 'retry-after': '1' }), result(inv, 0, {}, '').report);
    const busy = await post('/invoke/isprime', invocation({}));
    assert.equal(busy.statusCode, 429);
    assert.equal(busy.headers['retry-after'], '1');

    h.scheduler.respond = (inv) =>
      errorResult(new TernError('function_crashed', 'the function exited with code 1'), result(inv, 0, {}, '').report);
    const crash = await post('/invoke/isprime', invocation({}));
    assert.equal(crash.statusCode, 500);
    assert.equal(crash.body, 'the function exited with code 1');
  });

  test('a private function needs the node token', async () => {
    await h.registry.remove('isprime');
    await post('/create', await createBody({ Name: 'secret' }));
    // The Serverledge API cannot make a function private; the native API can (function.toml private = true).
    h.registry.get('secret')!.spec.private = true;
    assert.equal((await post('/invoke/secret', invocation({}))).statusCode, 401);
    assert.equal((await post('/invoke/secret', invocation({}), { authorization: `Bearer ${TOKEN}` })).statusCode, 200);
  });
});

describe('async invocations and GET /poll/<reqId>', () => {
  beforeEach(async () => {
    await post('/create', await createBody());
  });

  test('Async answers {"ReqId"} at once; poll is 404 until the call is over, then the report', async () => {
    const res = await post('/invoke/isprime', invocation({ n: '18' }, { async: true }));
    assert.equal(res.statusCode, 200);
    const { ReqId } = res.json() as { ReqId: string };
    assert.equal(ReqId, h.scheduler.submitted[0]!.id);
    assert.deepEqual(JSON.parse(h.scheduler.submitted[0]!.body.toString()), { n: '18' });

    let record: CallRecord = { id: ReqId, function: 'isprime', state: 'running', createdAt: new Date().toISOString() };
    const scheduler: Scheduler = h.scheduler;
    scheduler.call = (id) => (id === ReqId ? record : undefined);
    const pending = await h.app.inject({ method: 'GET', url: `/poll/${ReqId}` });
    assert.equal(pending.statusCode, 404);
    assert.equal(pending.body, '');

    const report = {
      ...result(h.scheduler.submitted[0]!, 200, {}, '').report,
      queueMs: 1,
      initMs: 0,
      runMs: 2,
      totalMs: 3,
    };
    record = {
      ...record,
      state: 'done',
      result: { status: 200, headers: {}, body: Buffer.from('{"IsPrime": false}').toString('base64') },
      report,
    };
    const done = await h.app.inject({ method: 'GET', url: `/poll/${ReqId}` });
    assert.equal(done.statusCode, 200);
    assert.deepEqual(Object.keys(done.json()), REPORT_KEYS);
    assert.deepEqual(done.json(), {
      Success: true,
      Result: '{"IsPrime": false}',
      ResponseTime: 0.003,
      IsWarmStart: true,
      InitTime: 0,
      QueueingTime: 0.001,
      OffloadLatency: 0,
      Duration: 0.002,
      Output: '',
      ExecutionArea: 'default',
      ExecutionNode: 'test-node',
      SchedAction: '',
    });

    record = { ...record, state: 'failed', error: { code: 'function_crashed', message: 'boom' } };
    assert.equal((await h.app.inject({ method: 'GET', url: `/poll/${ReqId}` })).json().Success, false);
    assert.equal((await h.app.inject({ method: 'GET', url: '/poll/unknown-id' })).statusCode, 404);
  });
});

describe('GET /status, POST /prewarm, unknown routes', () => {
  test("status is StatusInformation, today's fields after the older ones", async () => {
    await post('/create', await createBody());
    h.scheduler.statuses.set('isprime', {
      name: 'isprime',
      instances: { starting: 0, idle: 2, busy: 1, total: 3 },
      queued: 0,
      invocations: 5,
      memoryMiB: 384,
    });
    const res = await h.app.inject({ method: 'GET', url: '/status', headers: { host: '127.0.0.1:1323' } });
    assert.equal(res.statusCode, 200);
    const body = res.json();
    assert.deepEqual(Object.keys(body), [
      'Url',
      'AvailableWarmContainers',
      'AvailableMemMB',
      'AvailableCPUs',
      'DropCount',
      'Coordinates',
      'TotalMemory',
      'AvailableMemory',
      'FreeMemory',
      'TotalCPU',
      'UsedCPU',
      'LoadAvg',
      'LastUpdateTime',
    ]);
    assert.equal(body.AvailableMemory, 1024);
    assert.ok(body.TotalMemory >= body.AvailableMemory);
    assert.equal(body.TotalCPU, body.AvailableCPUs);
    assert.equal(body.LoadAvg.length, 3);
    assert.ok(Math.abs(body.LastUpdateTime - Date.now() / 1000) < 60);
    assert.equal(body.Url, 'http://127.0.0.1:1323');
    assert.deepEqual(body.AvailableWarmContainers, { isprime: 2 });
    assert.equal(body.AvailableMemMB, 1024);
    assert.ok(Number.isInteger(body.AvailableCPUs) && body.AvailableCPUs >= 1);
    assert.equal(body.DropCount, 0);
    assert.deepEqual(Object.keys(body.Coordinates), ['Vec', 'Error', 'Adjustment', 'Height']);
  });

  test('prewarm {Function, Instances, ForceImagePull} keeps that many warm: {"Prewarmed": N}', async () => {
    await post('/create', await createBody());
    const res = await post('/prewarm', JSON.stringify({ Function: 'isprime', Instances: 2, ForceImagePull: false }));
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { Prewarmed: 2 });
    const fn = h.registry.get('isprime')!;
    assert.equal(fn.spec.minInstances, 2);
    assert.equal(fn.spec.handler, '_serverledge_entry:handle');
    assert.equal(await readFile(join(fn.dir, 'isprime.py'), 'utf8'), await readFile(join(SL, 'isprime.py'), 'utf8'));
    const unknown = await post('/prewarm', JSON.stringify({ Function: 'nope', Instances: 1 }));
    assert.equal(unknown.statusCode, 404);
  });

  test('an unknown path is echo\'s 404 {"message":"Not Found"}; a known path with another method 405', async () => {
    const missing = await h.app.inject({ method: 'GET', url: '/nope' });
    assert.equal(missing.statusCode, 404);
    assert.deepEqual(missing.json(), { message: 'Not Found' });
    const method = await h.app.inject({ method: 'GET', url: '/create' });
    assert.equal(method.statusCode, 405);
    assert.deepEqual(method.json(), { message: 'Method Not Allowed' });
  });
});
