/**
 * A newcomer's walk (issue 20), against a real node: a node function with a local `file:`
 * dependency deploys, code that cannot load is refused at deploy naming its file and line, the
 * deploy-time name wins, the CLI finds its token and says how to give one, its output reads well,
 * a port clash names the option to change, and `GET /` leads to the dashboard.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI, REPO, startTern, type TernProcess } from '../helpers/node.js';

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; never throws on a non-zero exit. */
function runCommand(file: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { env: opts.env ?? process.env, cwd: opts.cwd, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
    });
  });
}

/** The environment of a shell that knows nothing of Tern: no TERN_* variables. */
function bareEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('TERN_')) env[k] = v;
  return { ...env, ...extra };
}

async function writeFunction(dir: string, files: Record<string, string>): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

describe("a newcomer's walk", () => {
  let node: TernProcess;
  let work: string;
  const tern = (args: string[], cwd = work, env = bareEnv({ TERN_URL: node.url, TERN_TOKEN: node.token })) =>
    runCommand(process.execPath, [CLI, ...args], { env, cwd });

  before(async () => {
    node = await startTern();
    work = await mkdtemp(join(tmpdir(), 'tern-newcomer-'));
  });
  after(async () => {
    assert.equal(await node.stop({ cleanup: true }), 0);
    await rm(work, { recursive: true, force: true });
  });

  test('a node function with a file: dependency deploys (npm links it) and answers', async () => {
    const dir = join(work, 'with-local-dep');
    await cp(join(REPO, 'test/fixtures/process/node-deps'), dir, { recursive: true });
    const deployed = await tern(['deploy', dir]);
    assert.equal(deployed.code, 0, deployed.stderr);
    const called = await tern(['invoke', 'node-deps', '-d', 'newcomer']);
    assert.equal(called.stdout, 'greetings, newcomer (from a local package)');
  });

  test('code that cannot load is refused at deploy with 400 naming the file and line', async () => {
    const cases: { name: string; files: Record<string, string>; expect: RegExp }[] = [
      {
        name: 'py-syntax',
        files: {
          'function.toml': 'runtime = "python"\nhandler = "main:handle"\n',
          'main.py': 'import os\n\ndef handle(req)\n    return "x"\n',
        },
        expect: /main\.py:3: SyntaxError/,
      },
      {
        name: 'py-import',
        files: {
          'function.toml': 'runtime = "python"\nhandler = "main:handle"\n',
          'main.py': 'import os\nimport no_such_module_here\n\ndef handle(req):\n    return "x"\n',
        },
        expect: /main\.py:2: ModuleNotFoundError: No module named 'no_such_module_here'/,
      },
      {
        name: 'js-syntax',
        files: {
          'function.toml': 'runtime = "node"\nhandler = "index.js"\n',
          'package.json': '{"type": "module"}',
          'index.js': 'export default function () {\n  return 1 +;\n}\n',
        },
        expect: /index\.js:2: SyntaxError/,
      },
      {
        name: 'js-import',
        files: {
          'function.toml': 'runtime = "node"\nhandler = "index.js"\n',
          'package.json': '{"type": "module"}',
          'index.js': '// a helper\nimport { pad } from "no-such-package";\nexport default () => pad("x");\n',
        },
        expect: /index\.js:2: Error: Cannot find package 'no-such-package'/,
      },
    ];
    for (const c of cases) {
      const r = await tern(['deploy', await writeFunction(join(work, c.name), c.files)]);
      assert.equal(r.code, 1, `${c.name}: ${r.stdout}`);
      assert.match(r.stderr, /\(HTTP 400\)/, c.name);
      assert.match(r.stderr, c.expect, c.name);
      assert.equal((await node.api('GET', `/v1/functions/${c.name}`)).status, 404, `${c.name} was not deployed`);
    }
  });

  test('the deploy-time name wins over function.toml: tern deploy --name and the API', async () => {
    const dir = await writeFunction(join(work, 'named'), {
      'function.toml': 'name = "in-the-file"\nruntime = "python"\nhandler = "main:handle"\n',
      'main.py': 'def handle(req):\n    return "renamed"\n',
    });
    const r = await tern(['deploy', dir, '--name', 'chosen-name']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deployed chosen-name/);
    const described = (await (await node.api('GET', '/v1/functions/chosen-name')).json()) as { spec: { name: string } };
    assert.equal(described.spec.name, 'chosen-name');
    assert.equal((await node.api('GET', '/v1/functions/in-the-file')).status, 404);
    assert.equal((await tern(['invoke', 'chosen-name'])).stdout, 'renamed');
    // The API: the URL's name wins the same way.
    const { packFolder } = await import('../../src/registry/archive.js');
    const put = await node.api('PUT', '/v1/functions/by-url', {
      body: await packFolder(dir),
      headers: { 'content-type': 'application/gzip' },
    });
    assert.equal(put.status, 201, await put.clone().text());
    assert.equal(((await put.json()) as { name: string }).name, 'by-url');
  });

  test('the CLI finds the token in .tern/token above the current folder; a 401 or 403 says how to give one', async () => {
    const project = join(work, 'project');
    await mkdir(join(project, '.tern'), { recursive: true });
    await mkdir(join(project, 'deep', 'er'), { recursive: true });
    await writeFile(join(project, '.tern', 'token'), `${node.token}\n`);
    const found = await tern(['ls'], join(project, 'deep', 'er'), bareEnv({ TERN_URL: node.url }));
    assert.equal(found.code, 0, found.stderr);
    assert.match(found.stdout, /node-deps/);

    await writeFile(join(project, '.tern', 'token'), 'a-token-the-node-does-not-know\n');
    const refused = await tern(['ls'], join(project, 'deep'), bareEnv({ TERN_URL: node.url }));
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /\(HTTP 401\)/);
    assert.match(refused.stderr, /--token/);
    assert.match(refused.stderr, /TERN_TOKEN/);
    assert.ok(refused.stderr.includes(join(project, '.tern', 'token')), refused.stderr);

    const none = await tern(['ls'], work, bareEnv({ TERN_URL: node.url, TERN_DATA: join(work, 'nowhere') }));
    assert.match(none.stderr, /\(HTTP 401\)\ntern: no token found; .*--token.*TERN_TOKEN/);
    assert.ok(none.stderr.includes(join(work, 'nowhere', 'token')), none.stderr);

    const flag = await tern(['ls', '--token', node.token], join(project, 'deep'), bareEnv({ TERN_URL: node.url }));
    assert.equal(flag.code, 0, flag.stderr);
  });

  test('tern new prints a deploy command that works as printed, and --help lists the runtimes', async () => {
    const help = await tern(['new', '--help']);
    for (const runtime of ['wasm', 'python', 'node', 'binary', 'microvm', 'container'])
      assert.match(help.stdout, new RegExp(`\\b${runtime}\\b`), `tern new --help names ${runtime}`);
    // A PATH without tern on it: the printed command must still run.
    const env = bareEnv({ TERN_URL: node.url, TERN_TOKEN: node.token, PATH: '/usr/bin:/bin' });
    const made = await runCommand(process.execPath, [CLI, 'new', 'python', 'starter-fn'], { env, cwd: work });
    assert.equal(made.code, 0, made.stderr);
    const line = /deploy it: (.+)$/m.exec(made.stdout)?.[1];
    assert.ok(line, made.stdout);
    const [command, ...args] = line.split(' ');
    const deployed = await runCommand(command!, args, { env, cwd: work });
    assert.equal(deployed.code, 0, `${line}: ${deployed.stderr}`);
    assert.match(deployed.stdout, /deployed starter-fn/);
  });

  test('invoke, poll and describe read well; errors say tern: … (HTTP n)', async () => {
    // Piped: the body byte for byte. On a terminal: a newline ends it.
    assert.equal((await tern(['invoke', 'chosen-name'])).stdout, 'renamed');
    const onTty = await runCommand('script', ['-qec', `${process.execPath} ${CLI} invoke chosen-name`, '/dev/null'], {
      env: bareEnv({ TERN_URL: node.url, TERN_TOKEN: node.token }),
      cwd: work,
    });
    assert.match(onTty.stdout, /renamed\r?\n$/);

    const missing = await tern(['invoke', 'no-such-function']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stdout, '');
    assert.equal(missing.stderr.trim(), 'tern: no function "no-such-function" (HTTP 404)');

    const id = (await tern(['invoke', 'node-deps', '--async', '-d', 'later'])).stdout.trim();
    const polled = await tern(['poll', '-w', id]);
    assert.equal(polled.code, 0, polled.stderr);
    assert.equal(polled.stdout, 'greetings, later (from a local package)');
    assert.match(polled.stderr, /done \(HTTP 200\)/);
    const asJson = JSON.parse((await tern(['poll', id, '--json'])).stdout) as { result: { body: string } };
    assert.equal(Buffer.from(asJson.result.body, 'base64').toString(), 'greetings, later (from a local package)');

    const described = await tern(['describe', 'chosen-name']);
    assert.match(described.stdout, /^runtime\s+python$/m);
    assert.match(described.stdout, /^url\s+http:\/\/127\.0\.0\.1:\d+\/fn\/chosen-name$/m);
    assert.equal(
      (JSON.parse((await tern(['describe', 'chosen-name', '--json'])).stdout) as { name: string }).name,
      'chosen-name',
    );
  });

  test('tern serve refuses a bad config with exit status 2, as docs/cli.md says', async () => {
    const r = await tern(['serve', '--log-level', 'chatty', '--data', join(work, 'unused')]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^tern: .*log-level/m);
  });

  test('a port already in use names the option that moves it', async () => {
    const info = (await (await node.api('GET', '/v1/info')).json()) as { triggers: Record<string, string | undefined> };
    const portOf = (address: string | undefined) => /:(\d+)$/.exec(address ?? '')?.[1] ?? '';
    const clashes: [string, string[]][] = [
      ['--port', ['--port', portOf(node.url)]],
      ['--coap-port', ['--port', '0', '--coap-port', portOf(info.triggers.coap)]],
      ['--grpc-port', ['--port', '0', '--coap-port', '0', '--grpc-port', portOf(info.triggers.grpc)]],
    ];
    for (const [option, args] of clashes) {
      const data = join(work, `clash${option}`);
      const r = await tern(['serve', '--host', '127.0.0.1', '--data', data, '--log-level', 'error', ...args]);
      assert.equal(r.code, 1, `${option}: ${r.stderr}`);
      assert.match(r.stderr, /EADDRINUSE/);
      assert.ok(r.stderr.includes(`choose another with ${option} `), `${option}: ${r.stderr}`);
    }
  });

  test('a binary function gets its call id as TERN_CALL_ID, the name wasm functions use', async () => {
    const dir = await writeFunction(join(work, 'call-id-binary'), {
      'function.toml': 'runtime = "binary"\nhandler = "main"\n',
      main: '#!/bin/sh\nprintf "Content-Type: text/plain\\n\\n%s" "$TERN_CALL_ID"\n',
    });
    await chmod(join(dir, 'main'), 0o755);
    const deployed = await tern(['deploy', dir]);
    assert.equal(deployed.code, 0, deployed.stderr);
    const res = await fetch(`${node.url}/fn/call-id-binary`);
    assert.equal(res.status, 200);
    const id = res.headers.get('x-tern-call-id');
    assert.ok(id);
    assert.equal(await res.text(), id);
  });

  test('GET / sends a browser to the dashboard, without a token', async () => {
    const res = await fetch(`${node.url}/`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/ui/');
  });
});
