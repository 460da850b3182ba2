/**
 * The native HTTP API against a real `tern serve`: deploy, list, describe, update, delete, invoke,
 * auth, error statuses, bad archives (nothing written), restart keeping functions.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packFiles } from '../helpers/archive.js';
import { startTern, waitForStatus, type TernProcess } from '../helpers/node.js';
import { tarWithEntry } from '../helpers/evil-archives.js';

const PY_HELLO = {
  'function.toml': 'runtime = "python"\nhandler = "main:handle"\n',
  'main.py': 'def handle(req):\n    return "hello v1\\n"\n',
};

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string) => {
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) {
      out.push(`${prefix}${e.name}`);
      if (e.isDirectory()) await walk(join(d, e.name), `${prefix}${e.name}/`);
    }
  };
  await walk(dir, '');
  return out.sort();
}

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const body = (await res.json()) as { error: { code: string; message: string } };
  assert.equal(typeof body.error.code, 'string');
  assert.equal(typeof body.error.message, 'string');
  return body.error;
}

describe('native API', () => {
  let node: TernProcess;
  before(async () => {
    node = await startTern();
  });
  after(async () => {
    assert.equal(await node.stop({ cleanup: true }), 0);
  });

  test('healthz and info', async () => {
    const health = await fetch(`${node.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(await health.text(), 'ok');
    const info = (await (await node.api('GET', '/v1/info')).json()) as {
      node: string;
      version: string;
      runtimes: { name: string }[];
      capacity: { memoryMiB: number; usedMiB: number };
    };
    assert.equal(typeof info.node, 'string');
    assert.match(info.version, /^\d+\.\d+\.\d+/);
    assert.ok(info.runtimes.some((r) => r.name === 'python'));
    assert.ok(info.capacity.memoryMiB > 0);
  });

  test('management needs the token: 401 without it and with a wrong one, with WWW-Authenticate', async () => {
    const none = await node.api('GET', '/v1/functions', { token: null });
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await errorOf(none)).code, 'unauthorized');
    const wrong = await node.api('GET', '/v1/functions', { token: 'not-the-token-at-all' });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
    assert.equal((await errorOf(wrong)).code, 'unauthorized');
    const put = await node.api('PUT', '/v1/functions/x', { token: null, body: await packFiles(PY_HELLO) });
    assert.equal(put.status, 401);
    const metrics = await fetch(`${node.url}/metrics`);
    assert.equal(metrics.status, 401);
  });

  test('deploy, list, describe, invoke, update, delete', async () => {
    const created = await node.api('PUT', '/v1/functions/greet', {
      body: await packFiles(PY_HELLO),
      headers: { 'content-type': 'application/gzip' },
    });
    assert.equal(created.status, 201, await created.clone().text());
    const desc = (await created.json()) as { name: string; version: string; spec: { runtime: string; memory: number } };
    assert.equal(desc.name, 'greet');
    assert.equal(desc.spec.runtime, 'python');
    assert.equal(desc.spec.memory, 128);

    const list = (await (await node.api('GET', '/v1/functions')).json()) as { functions: { name: string }[] };
    assert.deepEqual(
      list.functions.map((f) => f.name),
      ['greet'],
    );

    const one = await node.api('GET', '/v1/functions/greet');
    assert.equal(one.status, 200);
    assert.equal(((await one.json()) as { version: string }).version, desc.version);

    const call = await fetch(`${node.url}/fn/greet`);
    assert.equal(call.status, 200);
    assert.equal(await call.text(), 'hello v1\n');
    const report = JSON.parse(call.headers.get('x-tern-report') ?? '{}') as Record<string, unknown>;
    for (const key of ['node', 'instance', 'cold', 'queueMs', 'initMs', 'runMs', 'offloaded'])
      assert.ok(key in report, `report has ${key}`);
    assert.equal(report.cold, true);

    const updated = await node.api('PUT', '/v1/functions/greet', {
      body: await packFiles({ ...PY_HELLO, 'main.py': 'def handle(req):\n    return "hello v2\\n"\n' }),
      headers: { 'content-type': 'application/gzip' },
    });
    assert.equal(updated.status, 200);
    assert.notEqual(((await updated.json()) as { version: string }).version, desc.version);
    assert.equal(await (await fetch(`${node.url}/fn/greet`)).text(), 'hello v2\n');

    const del = await node.api('DELETE', '/v1/functions/greet');
    assert.equal(del.status, 204);
    assert.equal((await node.api('GET', '/v1/functions/greet')).status, 404);
    assert.equal((await node.api('DELETE', '/v1/functions/greet')).status, 404);
    const gone = await fetch(`${node.url}/fn/greet`);
    assert.equal(gone.status, 404);
    assert.equal((await errorOf(gone)).code, 'not_found');
  });

  test('invocation passes method, path, query, headers and body', async () => {
    const res = await node.api('PUT', '/v1/functions/mirror', {
      body: await packFiles({
        'function.toml': 'runtime = "python"\nhandler = "main:handle"\n',
        'main.py':
          'def handle(req):\n    return {"method": req.method, "path": req.path, "query": req.query, "x": req.headers.get("x-test"), "body": req.text()}\n',
      }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const call = await fetch(`${node.url}/fn/mirror/a/b?x=1&y=2`, {
      method: 'POST',
      body: 'payload',
      headers: { 'x-test': 'yes' },
    });
    assert.equal(call.status, 200);
    assert.match(call.headers.get('content-type') ?? '', /json/);
    const got = (await call.json()) as Record<string, unknown>;
    assert.equal(got.method, 'POST');
    assert.equal(got.path, '/a/b');
    assert.equal(
      typeof got.query === 'string' ? got.query : JSON.stringify(got.query),
      typeof got.query === 'string' ? 'x=1&y=2' : JSON.stringify(got.query),
    );
    assert.equal(got.x, 'yes');
    assert.equal(got.body, 'payload');
  });

  test('a header a function sends twice reaches the client twice (Set-Cookie)', async () => {
    const res = await node.api('PUT', '/v1/functions/cookies', {
      body: await packFiles(
        {
          'function.toml': 'runtime = "binary"\nhandler = "cookies.sh"\n',
          'cookies.sh': '#!/bin/sh\nprintf "Set-Cookie: a=1\\nSet-Cookie: b=2\\nContent-Type: text/plain\\n\\nok"\n',
        },
        { 'cookies.sh': 0o755 },
      ),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const call = await fetch(`${node.url}/fn/cookies`);
    assert.equal(call.status, 200, await call.clone().text());
    assert.deepEqual(call.headers.getSetCookie(), ['a=1', 'b=2']);
  });

  test('bad deploys get 400 with a clear error and write nothing', async () => {
    const before = await tree(join(node.data, 'functions'));
    const cases: [string, Buffer, string, RegExp][] = [
      ['not an archive', Buffer.from('just some text'), 'bad_archive', /neither|archive/i],
      ['path escape', await tarWithEntry('../escape.txt', 'x'), 'bad_archive', /\.\./],
      ['absolute path', await tarWithEntry('/etc/evil', 'x'), 'bad_archive', /absolute|\/etc\/evil/],
      ['no function.toml', await packFiles({ 'main.py': 'x' }), 'bad_archive', /function\.toml/],
      [
        'bad spec',
        await packFiles({ 'function.toml': 'runtime = "python"\nmemory = "lots"\n', 'main.py': '' }),
        'bad_spec',
        /memory/,
      ],
      [
        'unknown key',
        await packFiles({ 'function.toml': 'runtime = "python"\nmemroy = 1\n', 'main.py': '' }),
        'bad_spec',
        /memroy/,
      ],
      ['unknown runtime', await packFiles({ 'function.toml': 'runtime = "cobol"\n' }), 'bad_spec', /runtime/],
    ];
    for (const [label, body, code, message] of cases) {
      const res = await node.api('PUT', '/v1/functions/bad', { body });
      assert.equal(res.status, 400, label);
      const err = await errorOf(res);
      assert.equal(err.code, code, `${label}: ${err.message}`);
      assert.match(err.message, message, label);
    }
    const badName = await node.api('PUT', '/v1/functions/Bad_Name', { body: await packFiles(PY_HELLO) });
    assert.equal(badName.status, 400);
    assert.deepEqual(await tree(join(node.data, 'functions')), before);
    assert.equal((await node.api('GET', '/v1/functions/bad')).status, 404);
  });

  test('a failed update leaves the previous version serving', async () => {
    assert.equal((await node.api('PUT', '/v1/functions/stable', { body: await packFiles(PY_HELLO) })).status, 201);
    const bad = await node.api('PUT', '/v1/functions/stable', {
      body: await packFiles({ 'function.toml': 'runtime = "python"\ntimeout = "soon"\n' }),
    });
    assert.equal(bad.status, 400);
    assert.equal(await (await fetch(`${node.url}/fn/stable`)).text(), 'hello v1\n');
  });

  test('recent calls of a function, newest first, with their reports', async () => {
    assert.equal((await node.api('PUT', '/v1/functions/recent', { body: await packFiles(PY_HELLO) })).status, 201);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await fetch(`${node.url}/fn/recent`)).headers.get('x-tern-call-id')!);
    const res = await node.api('GET', '/v1/calls?function=recent&limit=2');
    assert.equal(res.status, 200);
    const { calls } = (await res.json()) as {
      calls: { id: string; state: string; result: { status: number }; report: { instance: string } }[];
    };
    assert.deepEqual(
      calls.map((c) => c.id),
      [ids[2], ids[1]],
    );
    assert.ok(calls.every((c) => c.state === 'done' && c.result.status === 200 && c.report.instance));
    assert.equal((await node.api('GET', '/v1/calls?function=recent', { token: null })).status, 401);
    assert.equal((await node.api('GET', '/v1/calls?function=recent&limit=0')).status, 400);
    assert.equal((await node.api('GET', '/v1/calls?function=nobody')).status, 404);
  });

  test('unknown routes and ids are 404 JSON', async () => {
    assert.equal((await errorOf(await fetch(`${node.url}/nope`))).code, 'not_found');
    const call = await fetch(`${node.url}/v1/calls/does-not-exist`);
    assert.equal(call.status, 404);
  });

  test('async call: 202, Location, poll to done', async () => {
    assert.equal((await node.api('PUT', '/v1/functions/later', { body: await packFiles(PY_HELLO) })).status, 201);
    const res = await fetch(`${node.url}/async/fn/later`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 202);
    const { id } = (await res.json()) as { id: string };
    assert.equal(res.headers.get('location'), `/v1/calls/${id}`);
    let record: {
      id: string;
      function: string;
      state: string;
      result?: { status: number; body: string };
      report?: { instance: string };
    };
    for (;;) {
      record = (await (await fetch(`${node.url}/v1/calls/${id}`)).json()) as typeof record;
      if (record.state === 'done' || record.state === 'failed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(record.state, 'done');
    assert.equal(record.function, 'later');
    assert.equal(record.result?.status, 200);
    assert.equal(Buffer.from(record.result!.body, 'base64').toString(), 'hello v1\n');
    assert.ok(record.report?.instance);
    const unknown = await fetch(`${node.url}/async/fn/no-such-fn`, { method: 'POST' });
    assert.equal(unknown.status, 404);
  });
});

describe('error statuses', () => {
  let node: TernProcess;
  before(async () => {
    node = await startTern({
      args: ['--config', join(import.meta.dirname, '../../../test/fixtures/config/small-limits.toml')],
    });
  });
  after(async () => {
    await node.stop({ cleanup: true });
  });

  const deploy = async (name: string, files: Record<string, string>) => {
    const res = await node.api('PUT', `/v1/functions/${name}`, { body: await packFiles(files) });
    assert.equal(res.status, 201, await res.clone().text());
  };

  test('413 for a body over the limit, and for an archive over the limit', async () => {
    await deploy('sink', PY_HELLO);
    const big = await fetch(`${node.url}/fn/sink`, { method: 'POST', body: Buffer.alloc(70_000, 1) });
    assert.equal(big.status, 413);
    assert.equal((await errorOf(big)).code, 'too_large');
    const bigArchive = await node.api('PUT', '/v1/functions/huge', {
      body: Buffer.alloc(600_000, 1),
      headers: { 'content-type': 'application/gzip' },
    });
    assert.equal(bigArchive.status, 413);
  });

  test('502 when the function fails, 504 past its timeout; the next call works', async () => {
    await deploy('boom', {
      'function.toml': 'runtime = "python"\n',
      'main.py': 'def handle(req):\n    raise ValueError("kaput")\n',
    });
    const boom = await fetch(`${node.url}/fn/boom`);
    assert.equal(boom.status, 502);
    assert.match((await errorOf(boom)).message, /kaput/);

    await deploy('slow', {
      'function.toml': 'runtime = "python"\ntimeout = "500ms"\n',
      'main.py':
        'import time\ndef handle(req):\n    if req.text() == "hang":\n        time.sleep(30)\n    return "ok"\n',
    });
    const hung = await fetch(`${node.url}/fn/slow`, { method: 'POST', body: 'hang' });
    assert.equal(hung.status, 504);
    assert.equal((await errorOf(hung)).code, 'timeout');
    const next = await fetch(`${node.url}/fn/slow`, { method: 'POST', body: 'quick' });
    assert.equal(next.status, 200);
    assert.equal(await next.text(), 'ok');
  });

  test('429 with Retry-After when the queue is full, 503 when the wait runs out', async () => {
    await deploy('busy', {
      'function.toml': 'runtime = "python"\nmax-instances = 1\ntimeout = "20s"\n',
      'main.py': 'import time\ndef handle(req):\n    time.sleep(float(req.text() or "0"))\n    return "done"\n',
    });
    // Warm it so the first long call starts at once.
    assert.equal((await fetch(`${node.url}/fn/busy`, { method: 'POST', body: '0' })).status, 200);
    const first = fetch(`${node.url}/fn/busy`, { method: 'POST', body: '3' });
    // Config: queue capacity 1, wait 1s. The second waits and times out (503); the third finds the queue full (429).
    await waitForStatus(node, 'busy', (s) => s.instances.busy === 1);
    const second = fetch(`${node.url}/fn/busy`, { method: 'POST', body: '0' });
    await waitForStatus(node, 'busy', (s) => s.queued === 1);
    const third = await fetch(`${node.url}/fn/busy`, { method: 'POST', body: '0' });
    assert.equal(third.status, 429);
    assert.ok(Number(third.headers.get('retry-after')) >= 1);
    assert.equal((await errorOf(third)).code, 'queue_full');
    const queued = await second;
    assert.equal(queued.status, 503);
    assert.equal((await errorOf(queued)).code, 'queue_timeout');
    assert.equal((await first).status, 200);
  });
});

describe('restart', () => {
  test('deployed functions survive a restart of the node', async () => {
    const first = await startTern();
    try {
      assert.equal((await first.api('PUT', '/v1/functions/keeper', { body: await packFiles(PY_HELLO) })).status, 201);
      assert.equal(await first.stop(), 0);
      const second = await startTern({ data: first.data });
      try {
        const list = (await (await second.api('GET', '/v1/functions')).json()) as { functions: { name: string }[] };
        assert.deepEqual(
          list.functions.map((f) => f.name),
          ['keeper'],
        );
        assert.equal(await (await fetch(`${second.url}/fn/keeper`)).text(), 'hello v1\n');
      } finally {
        assert.equal(await second.stop(), 0);
      }
    } finally {
      await first.stop({ cleanup: true });
    }
  });
});
