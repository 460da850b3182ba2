/**
 * Issue 25 over the real edges of a `tern serve` node: function.toml durations out of range and
 * wasm modules that cost more than they show are refused by the native deploy API with 400 and a
 * message naming the key (or import, or table) and what is allowed; a config duration out of range
 * stops `tern serve` at start with a clear error.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packFiles } from '../helpers/archive.js';
import { CLI, REPO, startTern, type TernProcess } from '../helpers/node.js';
import { TEN_MILLION_TABLE, WRONG_FD_WRITE } from '../wasm/hand-modules.js';

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

describe('native API: deploys that would fail every call are refused', () => {
  let node: TernProcess;
  let hello: Buffer;
  before(async () => {
    node = await startTern();
    hello = await readFile(join(REPO, 'examples/hello/hello.wasm'));
  });
  after(async () => {
    assert.equal(await node.stop({ cleanup: true }), 0);
  });

  const deploy = async (name: string, toml: string, module: Buffer = hello) =>
    node.api('PUT', `/v1/functions/${name}`, {
      body: await packFiles({
        'function.toml': `runtime = "wasm"\nhandler = "main.wasm"\n${toml}\n`,
        'main.wasm': module,
      }),
    });

  test('function.toml timeout and keepalive out of range: 400 naming the key and the range', async () => {
    const cases: [string, string][] = [
      ['timeout = 0', 'timeout: 0 is out of range (allowed 1ms to 24h)'],
      ['timeout = 1e308', 'timeout: 1e+308 is out of range (allowed 1ms to 24h)'],
      ['timeout = "999999h"', 'timeout: "999999h" is out of range (allowed 1ms to 24h)'],
      ['timeout = -1', 'timeout: -1 is out of range (allowed 1ms to 24h)'],
      ['keepalive = "8d"', 'keepalive: "8d" is out of range (allowed 0 to 7d)'],
      ['keepalive = -0.5', 'keepalive: -0.5 is out of range (allowed 0 to 7d)'],
    ];
    for (const [toml, message] of cases) {
      const res = await deploy('bounded', toml);
      assert.equal(res.status, 400, toml);
      const err = await errorOf(res);
      assert.equal(err.code, 'bad_spec', toml);
      assert.equal(err.message, `function.toml: ${message}`, toml);
    }
    assert.equal((await node.api('GET', '/v1/functions/bounded')).status, 404);
  });

  test('the bounds themselves deploy and serve', async () => {
    assert.equal((await deploy('edge-low', 'timeout = "1ms"\nkeepalive = 0')).status, 201);
    assert.equal((await deploy('edge-high', 'timeout = "24h"\nkeepalive = "7d"')).status, 201);
    const res = await fetch(`${node.url}/fn/edge-high`);
    assert.equal(res.status, 200, await res.clone().text());
  });

  test('a wasm module with a mistyped WASI import, or a table bigger than its memory: 400', async () => {
    const wasi = await deploy('wrong-wasi', '', WRONG_FD_WRITE);
    assert.equal(wasi.status, 400);
    assert.match(
      (await errorOf(wasi)).message,
      /imports wasi_snapshot_preview1\.fd_write as \(i32\) -> \(i32\), but wasi_snapshot_preview1 defines it as \(i32, i32, i32, i32\) -> \(i32\)/,
    );
    const table = await deploy('big-table', '', TEN_MILLION_TABLE);
    assert.equal(table.status, 400);
    assert.match((await errorOf(table)).message, /10000000 elements.*memory limit of 128 MiB/);
  });
});

describe('node config: a duration out of range stops tern serve at start', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tern-bounds-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function serveWith(config: string): Promise<{ code: number | null; stderr: string }> {
    await writeFile(join(dir, 'tern.toml'), config);
    const proc = spawn(
      process.execPath,
      [CLI, 'serve', '--config', join(dir, 'tern.toml'), '--data', join(dir, 'data')],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // A node that accepts the config serves until stopped: the test fails then, it does not hang.
    const guard = setTimeout(() => proc.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
    clearTimeout(guard);
    return { code, stderr };
  }

  test('[queue] wait = 0 and drain-timeout = "999999h"', async () => {
    const wait = await serveWith('[queue]\nwait = 0\n');
    assert.equal(wait.code, 2, wait.stderr);
    assert.equal(wait.stderr, 'tern: config: queue.wait: 0 is out of range (allowed 1ms to 1h)\n');
    const drain = await serveWith('drain-timeout = "999999h"\n');
    assert.equal(drain.code, 2, drain.stderr);
    assert.equal(drain.stderr, 'tern: config: drain-timeout: "999999h" is out of range (allowed 0 to 1h)\n');
  });
});
