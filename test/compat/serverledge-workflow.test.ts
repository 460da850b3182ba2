/**
 * Serverledge's workflow API replayed against a real Tern node with the Serverledge profile.
 * Requests as serverledge-cli sends them (serverledge-faas/serverledge internal/cli/cli.go:
 * create / update a function, create-workflow with the ASL base64-encoded, invoke-workflow
 * [--async], poll, list-workflows, delete-workflow; bodies per internal/client/types.go:
 * WorkflowCreationRequest, WorkflowInvocationRequest), /workflow/import with the JSON of
 * internal/workflow/workflow.go (MarshalJSON) and /workflow/resume with
 * internal/workflow/request.go's WorkflowInvocationResumeRequest; replies checked against
 * internal/api/workflow.go. The ASL documents have the shape of Serverledge's
 * examples/workflow-simple.json and examples/workflow-with-choice-task.json (written here).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { create as createTar } from 'tar';
import { FIXTURES } from '../fixtures/compat/openfaas/harness.js';
import { startCompatNode, type CompatNode } from '../fixtures/compat/openfaas/node.js';

const SL = join(FIXTURES, 'serverledge');
let node: CompatNode;
let sl: string;

const SIMPLE = {
  Comment: 'three increments',
  StartAt: 'FirstState',
  States: {
    FirstState: { Type: 'Task', Resource: 'inc', Next: 'SecondState' },
    SecondState: { Type: 'Task', Resource: 'inc', Next: 'Final' },
    Final: { Type: 'Task', Resource: 'inc', End: true },
  },
};

const WITH_CHOICE = {
  StartAt: 'FirstState',
  States: {
    FirstState: { Type: 'Task', Resource: 'inc', Next: 'ChoiceState' },
    ChoiceState: {
      Type: 'Choice',
      Choices: [
        { Variable: '$.n', NumericLessThan: 10, Next: 'Small' },
        { Variable: '$.n', NumericGreaterThanEquals: 10, Next: 'Large' },
      ],
      Default: 'FailState',
    },
    Small: { Type: 'Task', Resource: 'inc', End: true },
    Large: { Type: 'Pass', End: true },
    FailState: { Type: 'Fail', Error: 'ErrorA', Cause: 'Unknown' },
  },
};

const postJson = (path: string, body: unknown) =>
  fetch(`${sl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

async function tarOf(file: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of createTar({ cwd: SL, portable: true }, [file])) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('base64');
}

/** serverledge-cli create-workflow -f NAME -s FILE [-u] */
const createWorkflow = (name: string, asl: unknown, update = false) =>
  postJson('/workflow/create', {
    Name: name,
    ASLSrc: Buffer.from(typeof asl === 'string' ? asl : JSON.stringify(asl)).toString('base64'),
    OverwriteIfExists: update,
  });

/** serverledge-cli invoke-workflow -f NAME -p k:v [--async] */
const invokeWorkflow = (name: string, params: Record<string, unknown>, async = false) =>
  postJson(`/workflow/invoke/${name}`, {
    Params: params,
    QoS: { Class: 0, MaxRespT: -1 },
    CanDoOffloading: true,
    Async: async,
  });

interface InvocationResponse {
  Success: boolean;
  Result: unknown;
  Reports: Record<string, { ResponseTime: number; IsWarmStart: boolean; Duration: number; ExecutionNode: string }>;
  ResponseTime: number;
  SchedulingTime: number;
}

async function poll(reqId: string): Promise<InvocationResponse> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${sl}/poll/${reqId}`);
    if (res.status === 200) return (await res.json()) as InvocationResponse;
    assert.equal(res.status, 404);
    if (Date.now() > deadline) throw new Error(`poll ${reqId}: no result`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

before(async () => {
  node = await startCompatNode(['serverledge']);
  sl = node.urls.serverledge!;
  const fn = {
    Name: 'inc',
    Runtime: 'python310',
    MemoryMB: 128,
    CPUDemand: 0,
    Handler: 'inc.handler',
    TarFunctionCode: await tarOf('inc.py'),
    CustomImage: '',
  };
  const created = await postJson('/create', fn);
  assert.deepEqual(await created.json(), { Created: 'inc' });
  // serverledge-cli create --update sends the same body to /update.
  const updated = await postJson('/update', fn);
  assert.equal(updated.status, 200);
  assert.deepEqual(await updated.json(), { Created: 'inc' });
});
after(async () => node?.stop());

describe('Serverledge workflows on Tern', () => {
  test('create-workflow: {"Created": name}; again 409 "workflow already exists"; with --update 200', async () => {
    const res = await createWorkflow('myWorkflow', SIMPLE);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { Created: 'myWorkflow' });
    const again = await createWorkflow('myWorkflow', SIMPLE);
    assert.equal(again.status, 409);
    assert.equal(await again.json(), 'workflow already exists');
    assert.equal((await createWorkflow('myWorkflow', SIMPLE, true)).status, 200);
    const list = await fetch(`${sl}/workflow/list`);
    assert.deepEqual(await list.json(), ['myWorkflow']);
    const functions = await fetch(`${sl}/function`);
    assert.deepEqual(await functions.json(), ['inc']);
  });

  test("invoke-workflow: the Serverledge handler gets each state's input as params; InvocationResponse with a report per Task", async () => {
    const res = await invokeWorkflow('myWorkflow', { n: '2' });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as InvocationResponse;
    assert.deepEqual(Object.keys(body), ['Success', 'Result', 'Reports', 'ResponseTime', 'SchedulingTime']);
    assert.equal(body.Success, true);
    assert.deepEqual(body.Result, { n: 5 });
    assert.deepEqual(Object.keys(body.Reports).sort(), [
      'Function_Final',
      'Function_FirstState',
      'Function_SecondState',
    ]);
    assert.ok(body.ResponseTime > 0 && body.Reports.Function_Final!.Duration > 0);
  });

  test('a Choice both ways', async () => {
    assert.equal((await createWorkflow('choice', WITH_CHOICE)).status, 200);
    const small = (await (await invokeWorkflow('choice', { n: '1' })).json()) as InvocationResponse;
    assert.deepEqual(small.Result, { n: 3 });
    const large = (await (await invokeWorkflow('choice', { n: '20' })).json()) as InvocationResponse;
    assert.deepEqual(large.Result, { n: 21 });
  });

  test('a run that fails is a 500 with the error as a JSON string', async () => {
    const fail = { StartAt: 'F', States: { F: { Type: 'Fail', Error: 'ErrorA', Cause: 'Unknown' } } };
    assert.equal((await createWorkflow('fails', fail)).status, 200);
    const res = await invokeWorkflow('fails', {});
    assert.equal(res.status, 500);
    assert.equal(await res.json(), 'failed workflow execution: ErrorA: Unknown');
  });

  test('invoke-workflow --async: {"ReqId"}, then /poll answers the InvocationResponse; /workflow/resume of the ReqId too', async () => {
    const res = await invokeWorkflow('myWorkflow', { n: '10' }, true);
    assert.equal(res.status, 200);
    const { ReqId } = (await res.json()) as { ReqId: string };
    const polled = await poll(ReqId);
    assert.equal(polled.Success, true);
    assert.deepEqual(polled.Result, { n: 13 });
    assert.equal(Object.keys(polled.Reports).length, 3);
    const resumed = await postJson('/workflow/resume/myWorkflow', {
      ReqId,
      Params: { n: '10' },
      QoS: { Class: 0, MaxRespT: -1 },
      CanDoOffloading: false,
      Async: false,
      Plan: { ToExecute: null },
    });
    assert.equal(resumed.status, 200);
    assert.deepEqual(((await resumed.json()) as InvocationResponse).Result, { n: 13 });
    const unknown = await postJson('/workflow/resume/myWorkflow', { ReqId: 'nope', Params: {} });
    assert.equal(unknown.status, 404);
  });

  test("import takes Serverledge's own workflow JSON (tasks and conditions) and runs it", async () => {
    const res = await postJson('/workflow/import', {
      Name: 'imported',
      Start: { Id: 'start', Type: 'StartTask', NextTask: 'f1' },
      End: { Id: 'end', Type: 'EndTask' },
      Tasks: {
        start: { Id: 'start', Type: 'StartTask', NextTask: 'f1' },
        f1: { Id: 'f1', Type: 'FunctionTask', Func: 'inc', NextTask: 'c1' },
        c1: {
          Id: 'c1',
          Type: 'ChoiceTask',
          Conditions: [
            { Type: 'Smaller', Find: [true, false], Op: ['n', 10], Sub: null },
            { Type: 'Const', Find: [false], Op: [true], Sub: null },
          ],
          AlternativeNextTasks: ['f2', 'end'],
        },
        f2: { Id: 'f2', Type: 'FunctionTask', Func: 'inc', NextTask: 'end' },
        end: { Id: 'end', Type: 'EndTask' },
      },
    });
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), { Created: 'imported' });
    assert.deepEqual(((await (await invokeWorkflow('imported', { n: '1' })).json()) as InvocationResponse).Result, {
      n: 3,
    });
    assert.deepEqual(((await (await invokeWorkflow('imported', { n: '50' })).json()) as InvocationResponse).Result, {
      n: 51,
    });
    const bad = await postJson('/workflow/import', {
      Name: 'bad',
      Start: { Id: 's', Type: 'StartTask', NextTask: 'c' },
      End: { Id: 'e', Type: 'EndTask' },
      Tasks: {
        c: {
          Id: 'c',
          Type: 'ChoiceTask',
          Conditions: [{ Type: 'IsEmpty', Find: [true], Op: ['xs'] }],
          AlternativeNextTasks: ['e'],
        },
      },
    });
    assert.equal(bad.status, 400);
    assert.match(await bad.text(), /IsEmpty" has no ASL equivalent/);
  });

  test('errors: bad ASL 400 naming the state, unknown workflow 404, delete then 404', async () => {
    const bad = await createWorkflow('broken', {
      StartAt: 'A',
      States: { A: { Type: 'Task', Resource: 'inc', Next: 'Nowhere' } },
    });
    assert.equal(bad.status, 400);
    assert.match((await bad.json()) as string, /^ASL parsing failed: state "A": Next "Nowhere" names no state/);
    const missing = await createWorkflow('missing', {
      StartAt: 'A',
      States: { A: { Type: 'Task', Resource: 'nofn', End: true } },
    });
    assert.match((await missing.json()) as string, /state "A": Resource "nofn" is not a function/);
    const unknown = await invokeWorkflow('nope', {});
    assert.equal(unknown.status, 404);
    assert.equal(await unknown.json(), "function workflow 'nope' does not exist");
    const deleted = await postJson('/workflow/delete', { Name: 'choice' });
    assert.deepEqual(await deleted.json(), { Deleted: 'choice' });
    const again = await postJson('/workflow/delete', { Name: 'choice' });
    assert.equal(again.status, 404);
  });
});
