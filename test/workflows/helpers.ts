/** Functions and helpers the workflow tests share: python functions deployed on a real node. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { packFiles, packFolder } from '../helpers/archive.js';
import { REPO, type TernProcess } from '../helpers/node.js';

const PY = (body: string, extra = '') => ({
  'function.toml': `runtime = "python"\nhandler = "main:handle"\n${extra}`,
  'main.py': body,
});

export const FUNCTIONS: Record<string, Record<string, string>> = {
  // {"n": k} -> {"n": k + 1}, keeping the other fields.
  inc: PY('def handle(req):\n    d = req.json() or {}\n    d["n"] = d.get("n", 0) + 1\n    return d\n'),
  // Always fails with a named error (Retry and Catch match it by name).
  boom: PY(
    'from tern import Response\nimport json\n\ndef handle(req):\n    return Response(json.dumps({"error": "Boom", "cause": "it always fails"}), status=500, headers={"content-type": "application/json"})\n',
  ),
  // Sleeps {"s": seconds}, then answers its input.
  sleepy: PY(
    'import time\n\ndef handle(req):\n    d = req.json() or {}\n    time.sleep(d.get("s", 1))\n    return d\n',
    'timeout = "30s"\n',
  ),
  secret: PY('def handle(req):\n    return {"secret": 42}\n', 'private = true\n'),
};

export async function deployFunction(node: TernProcess, name: string, files: Record<string, string>): Promise<void> {
  const res = await node.api('PUT', `/v1/functions/${name}`, {
    body: await packFiles(files),
    headers: { 'content-type': 'application/gzip' },
  });
  assert.ok(res.status === 201 || res.status === 200, `deploy ${name}: ${res.status} ${await res.text()}`);
}

export async function deployExample(node: TernProcess, example: string): Promise<void> {
  const res = await node.api('PUT', `/v1/functions/${example}`, {
    body: await packFolder(join(REPO, 'examples', example)),
    headers: { 'content-type': 'application/gzip' },
  });
  assert.ok(res.status === 201 || res.status === 200, `deploy ${example}: ${res.status} ${await res.text()}`);
}

export async function putWorkflow(node: TernProcess, name: string, def: unknown): Promise<Response> {
  return node.api('PUT', `/v1/workflows/${name}`, {
    body: typeof def === 'string' ? def : JSON.stringify(def),
    headers: { 'content-type': 'application/json' },
  });
}

export async function deployWorkflow(node: TernProcess, name: string, def: unknown): Promise<void> {
  const res = await putWorkflow(node, name, def);
  assert.ok(res.status === 201 || res.status === 200, `workflow ${name}: ${res.status} ${await res.text()}`);
}

export interface RunReply {
  status: number;
  body: unknown;
  report: { totalMs: number; tasksMs: number; overheadMs: number; states: number; run: string; error?: string };
  run: string;
}

/** POST /wf/{name} with a JSON input. */
export async function runWorkflow(node: TernProcess, name: string, input: unknown, token = false): Promise<RunReply> {
  const res = await fetch(`${node.url}/wf/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${node.token}` } : {}) },
    body: JSON.stringify(input),
  });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? (JSON.parse(text) as unknown) : undefined,
    report: JSON.parse(res.headers.get('x-tern-report') ?? '{}') as RunReply['report'],
    run: res.headers.get('x-tern-run') ?? '',
  };
}

export interface CallRecordView {
  id: string;
  function: string;
  state: string;
  kind?: string;
  result?: { status: number; body: string };
  report?: { workflow: { states: { name: string; status: string }[]; resumed?: boolean; error?: string } };
  error?: { code: string; message: string };
}

/** Polls GET /v1/calls/{id} until the record is finished (bounded). */
export async function waitForCall(node: TernProcess, id: string, timeoutMs = 30_000): Promise<CallRecordView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(`${node.url}/v1/calls/${id}`);
    if (res.status === 200) {
      const record = (await res.json()) as CallRecordView;
      if (record.state === 'done' || record.state === 'failed') return record;
    }
    if (Date.now() > deadline) throw new Error(`call ${id} did not finish in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
