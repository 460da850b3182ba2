/**
 * The tinyFaaS profile against the requests tinyFaaS's own client sends, replies checked field by
 * field. Requests: OpenFogStack/tinyFaaS scripts/{upload,uploadURL,delete,list,logs,wipe-functions}.sh
 * (the upload zip is made as upload.sh makes it: `zip -r - ./*` in the function folder, base64) and
 * test/test_all.py (HTTP calls, X-tinyFaaS-Async); replies: cmd/manager/main.go,
 * pkg/manager/manager.go (Upload's endpoint lines), pkg/http/http.go. The registry is real; the
 * scheduler and log store are in-test fakes of Tern's interfaces.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, test } from 'node:test';
import { tinyfaasProfile } from '../../src/compat/tinyfaas/index.js';
import { FIXTURES, result, startHarness, type Harness } from '../fixtures/compat/openfaas/harness.js';

const FNS = join(FIXTURES, 'tinyfaas/fns');
let h: Harness;

before(async () => {
  h = await startHarness(tinyfaasProfile);
  h.deps.triggers = () => ({ coap: 'udp://127.0.0.1:5683', grpc: 'grpc://127.0.0.1:9000' });
});
after(async () => h.close());

beforeEach(async () => {
  for (const fn of h.registry.list()) await h.registry.remove(fn.spec.name);
  h.scheduler.invoked.length = 0;
  h.scheduler.submitted.length = 0;
  h.logs.lines.length = 0;
  h.scheduler.respond = (inv) => result(inv, 200, { 'content-type': 'text/plain; charset=utf-8' }, inv.body);
});

/** upload.sh: `pushd FOLDER; zip -r - ./* | base64 | tr -d '\n'`. */
function zipFolder(folder: string): string {
  return execFileSync('sh', ['-c', 'zip -q -r - ./*'], { cwd: folder, maxBuffer: 64 * 1024 * 1024 }).toString('base64');
}

/** upload.sh's JSON, written by hand exactly as its curl --data line builds it. */
function uploadBody(folder: string, name: string, env: string, threads: number): string {
  return `{"name": "${name}", "env": "${env}", "threads": ${threads}, "zip": "${zipFolder(join(FNS, folder))}"}`;
}

/** curl --data sends application/x-www-form-urlencoded; tinyFaaS reads the body as JSON anyway. */
const curlData = (url: string, payload: string) =>
  h.app.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded', host: '127.0.0.1:8000' },
    payload,
  });

describe('POST /upload', () => {
  test('each env becomes its Tern runtime with a generated entry; the reply names the CoAP, HTTP and gRPC endpoints', async () => {
    const cases = [
      {
        folder: 'echo',
        name: 'echo',
        env: 'python3',
        runtime: 'python',
        handler: '_tinyfaas_entry:handle',
        code: 'fn.py',
      },
      {
        folder: 'sieve-of-eratosthenes',
        name: 'sieve',
        env: 'nodejs',
        runtime: 'node',
        handler: '_tinyfaas_entry.mjs',
        code: 'index.js',
      },
      {
        folder: 'echo-binary',
        name: 'echobinary',
        env: 'binary',
        runtime: 'binary',
        handler: '_tinyfaas_entry.sh',
        code: 'fn.sh',
      },
    ];
    for (const c of cases) {
      const res = await curlData('/upload', uploadBody(c.folder, c.name, c.env, 1));
      assert.equal(res.statusCode, 200, res.body);
      assert.match(res.headers['content-type'] as string, /^text\/plain/);
      assert.equal(
        res.body,
        `coap://127.0.0.1:5683/${c.name}\nhttp://127.0.0.1:8000/${c.name}\ngrpc://127.0.0.1:9000/${c.name}\n`,
      );
      const fn = h.registry.get(c.name)!;
      assert.equal(fn.spec.runtime, c.runtime);
      assert.equal(fn.spec.handler, c.handler);
      assert.equal(fn.spec.minInstances, 1);
      assert.equal(fn.spec.description, `tinyFaaS function (env ${c.env}, 1 thread)`);
      assert.equal(await readFile(join(fn.dir, c.code), 'utf8'), await readFile(join(FNS, c.folder, c.code), 'utf8'));
    }
    const binary = h.registry.get('echobinary')!;
    for (const file of ['fn.sh', '_tinyfaas_entry.sh'])
      assert.equal((await stat(join(binary.dir, file))).mode & 0o111, 0o111, file);
    assert.match(await readFile(join(binary.dir, '_tinyfaas_entry.sh'), 'utf8'), /exec \.\/fn\.sh 2>&1/);
  });

  test('threads keeps that many instances warm; envs ["K=V"] become the environment', async () => {
    const body = JSON.parse(uploadBody('echo', 'echo', 'python3', 3)) as Record<string, unknown>;
    const res = await curlData('/upload', JSON.stringify({ ...body, envs: ['GREETING=hi=there', 'BROKEN'] }));
    assert.equal(res.statusCode, 200, res.body);
    const spec = h.registry.get('echo')!.spec;
    assert.equal(spec.minInstances, 3);
    assert.equal(spec.maxInstances, 8);
    assert.deepEqual(spec.env, { GREETING: 'hi=there' });
  });

  test('an upload of an existing name replaces it, as tinyFaaS does', async () => {
    assert.equal((await curlData('/upload', uploadBody('echo', 'fn', 'python3', 1))).statusCode, 200);
    assert.equal((await curlData('/upload', uploadBody('echo-js', 'fn', 'nodejs', 1))).statusCode, 200);
    assert.equal(h.registry.get('fn')!.spec.runtime, 'node');
  });

  test('bad uploads are refused with a message and nothing deployed', async () => {
    const cases: [string, number, RegExp][] = [
      [uploadBody('echo', 'my_fn', 'python3', 1), 400, /non-alphanumeric/],
      [uploadBody('echo', 'Echo', 'python3', 1), 400, /lower case/],
      [uploadBody('echo', 'echo', 'go', 1), 400, /Tern builds no Go code/],
      [uploadBody('echo', 'echo', 'python3', 0), 400, /threads: must be a whole number from 1/],
      [uploadBody('echo-js', 'echo', 'python3', 1), 400, /the zip has no fn\.py/],
      ['{"name": "echo", "env": "python3", "threads": 1, "zip": "%%%"}', 400, /base64-encoded zip/],
      ['{"name": "echo", "env": "python3", "threads": 1, "zip": "aGVsbG8="}', 400, /./],
      ['{"name": ', 400, /not JSON/],
    ];
    for (const [payload, status, message] of cases) {
      const res = await curlData('/upload', payload);
      assert.equal(res.statusCode, status, payload.slice(0, 80));
      assert.match(res.body, message);
    }
    assert.equal(h.registry.list().length, 0);
  });
});

describe('POST /uploadURL', () => {
  test("fetches the zip, takes the code from subfolder_path (through the archive's top folder)", async () => {
    const tree = await mkdtemp(join(tmpdir(), 'tern-tf-url-'));
    await cp(join(FNS, 'sieve-of-eratosthenes'), join(tree, 'tinyFaaS-main/test/fns/sieve-of-eratosthenes'), {
      recursive: true,
    });
    await writeFile(join(tree, 'tinyFaaS-main/README.md'), 'readme');
    const zip = execFileSync('zip', ['-q', '-r', '-', 'tinyFaaS-main'], { cwd: tree });
    const server = createServer((req, res) => {
      if (req.url === '/main.zip') res.end(zip);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      // uploadURL.sh: {"name", "env", "threads", "url", "subfolder_path"}.
      const payload = `{"name": "sieve", "env": "nodejs","threads": 1,"url": "http://127.0.0.1:${port}/main.zip","subfolder_path": "tinyFaaS-main/test/fns/sieve-of-eratosthenes"}`;
      const res = await curlData('/uploadURL', payload);
      assert.equal(res.statusCode, 200, res.body);
      assert.match(res.body, /^http:\/\/127\.0\.0\.1:8000\/sieve$/m);
      const fn = h.registry.get('sieve')!;
      assert.equal(
        await readFile(join(fn.dir, 'index.js'), 'utf8'),
        await readFile(join(FNS, 'sieve-of-eratosthenes/index.js'), 'utf8'),
      );

      const missing = await curlData(
        '/uploadURL',
        `{"name": "nope", "env": "nodejs", "threads": 1, "url": "http://127.0.0.1:${port}/gone.zip", "subfolder_path": "/"}`,
      );
      assert.equal(missing.statusCode, 400);
      assert.match(missing.body, /answered 404/);
      const file = await curlData(
        '/uploadURL',
        '{"name": "nope", "env": "nodejs", "threads": 1, "url": "file:///etc/passwd", "subfolder_path": "/"}',
      );
      assert.equal(file.statusCode, 400);
      assert.match(file.body, /only http and https/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      await rm(tree, { recursive: true, force: true });
    }
  });
});

describe('/list, /delete, /wipe, /logs', () => {
  test('list names every function, one a line; delete answers 200 with nothing, then 404', async () => {
    await curlData('/upload', uploadBody('echo', 'echo', 'python3', 1));
    await curlData('/upload', uploadBody('echo-js', 'echojs', 'nodejs', 1));
    const list = await h.app.inject({ method: 'GET', url: '/list' });
    assert.equal(list.statusCode, 200);
    assert.equal(list.body, 'echo\nechojs\n');
    const del = await curlData('/delete', '{"name": "echo"}');
    assert.equal(del.statusCode, 200);
    assert.equal(del.body, '');
    assert.equal((await h.app.inject({ method: 'GET', url: '/list' })).body, 'echojs\n');
    const again = await curlData('/delete', '{"name": "echo"}');
    assert.equal(again.statusCode, 404);
    assert.match(again.body, /function echo not found/);
  });

  test('wipe (wipe-functions.sh: --data "") removes what came through this API and nothing else', async () => {
    await curlData('/upload', uploadBody('echo', 'echo', 'python3', 1));
    const native = await mkdtemp(join(tmpdir(), 'tern-tf-native-'));
    await writeFile(join(native, 'function.toml'), 'name = "native"\nruntime = "python"\n');
    await writeFile(join(native, 'main.py'), 'def handle(req):\n    return "hi"\n');
    await h.registry.deployFolder('native', native);
    await rm(native, { recursive: true, force: true });
    const res = await curlData('/wipe', '');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(
      h.registry.list().map((f) => f.spec.name),
      ['native'],
    );
  });

  test("logs: one function's lines with ?name=, every function's with a blank line after each", async () => {
    await curlData('/upload', uploadBody('echo', 'echo', 'python3', 1));
    await curlData('/upload', uploadBody('echo-js', 'echojs', 'nodejs', 1));
    const line = (fn: string, text: string) =>
      h.logs.emit({ time: new Date().toISOString(), fn, instance: `${fn}-1`, stream: 'stdout', line: text });
    line('echo', 'Hello World!');
    line('echojs', 'hi from js');
    const one = await h.app.inject({ method: 'GET', url: '/logs?name=echojs' });
    assert.equal(one.statusCode, 200);
    assert.equal(one.body, 'hi from js\n');
    const all = await h.app.inject({ method: 'GET', url: '/logs' });
    assert.equal(all.body, 'Hello World!\n\nhi from js\n\n');
    assert.equal((await h.app.inject({ method: 'GET', url: '/logs?name=nope' })).statusCode, 404);
  });
});

describe('the HTTP endpoint: /<name>', () => {
  beforeEach(async () => {
    await curlData('/upload', uploadBody('echo', 'echo', 'python3', 1));
  });

  test('test_all.py TestEcho: POST "Hello World!" reaches the function with its headers; its reply comes back', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'user-agent': 'Python-urllib/3.11', lab: 'x' },
      payload: 'Hello World!',
    });
    assert.equal(res.statusCode, 200);
    assert.equal(res.body, 'Hello World!');
    const inv = h.scheduler.invoked[0]!;
    assert.equal(inv.function, 'echo');
    assert.equal(inv.method, 'POST');
    assert.equal(inv.path, '/');
    assert.equal(inv.trigger, 'compat');
    assert.equal(inv.body.toString(), 'Hello World!');
    assert.equal(inv.headers.lab, 'x');
    assert.equal(inv.headers['user-agent'], 'Python-urllib/3.11');
    assert.ok(res.headers['x-tern-report']);
  });

  test("test_all.py TestSieve: GET works too; the function's status passes through", async () => {
    h.scheduler.respond = (inv) => result(inv, 500, { 'content-type': 'text/plain' }, 'oops');
    const res = await h.app.inject({ method: 'GET', url: '/echo/more?x=1' });
    assert.equal(res.statusCode, 500);
    assert.equal(res.body, 'oops');
    assert.equal(h.scheduler.invoked[0]!.path, '/more');
    assert.equal(h.scheduler.invoked[0]!.query, 'x=1');
  });

  test('X-tinyFaaS-Async: any value answers 202 with no body and runs the call in the background', async () => {
    const res = await h.app.inject({
      method: 'POST',
      url: '/echo',
      headers: { 'X-tinyFaaS-Async': 'true' },
      payload: 'later',
    });
    assert.equal(res.statusCode, 202);
    assert.equal(res.body, '');
    assert.equal(h.scheduler.invoked.length, 0);
    assert.equal(h.scheduler.submitted[0]!.body.toString(), 'later');
  });

  test('an unknown function is 404', async () => {
    assert.equal((await h.app.inject({ method: 'POST', url: '/nope', payload: 'x' })).statusCode, 404);
    assert.equal((await h.app.inject({ method: 'GET', url: '/' })).statusCode, 404);
    assert.equal(h.scheduler.invoked.length, 0);
  });
});
