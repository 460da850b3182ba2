/**
 * `[compat.tinyfaas] layout = "tinyfaas"`: tinyFaaS's own layout, management and functions on
 * listeners of their own, driven with the exact requests of tinyFaaS's scripts (scripts/upload.sh,
 * list.sh, logs.sh, delete.sh, wipe-functions.sh: curl with `--data`) and of its test suite
 * (test/test_all.py: wait for both ports, then call the functions over HTTP). The ports are free
 * ones (`0`), which the layout's defaults (8080, 8000; the node's API on 8090) give way to; the
 * defaults themselves are pinned by loading the config.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { tinyfaasProfile } from '../../src/compat/tinyfaas/index.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startTern, type TernProcess } from '../helpers/node.js';
import { FIXTURES } from '../fixtures/compat/openfaas/harness.js';
import { waitForOutput } from '../fixtures/compat/openfaas/node.js';

const run = promisify(execFile);
const FNS = join(FIXTURES, 'tinyfaas/fns');
const PAYLOAD = 'Hello World!';

async function configFile(dir: string, toml: string): Promise<string> {
  const file = join(dir, 'tern.toml');
  await writeFile(file, toml);
  return file;
}

describe("the layout's defaults", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tern-tf-layout-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  test("one switch: management 8080, functions 8000, gRPC 9000, CoAP 5683, the node's API moved to 8090", async () => {
    const config = loadConfig({ config: await configFile(dir, '[compat.tinyfaas]\nlayout = "tinyfaas"\n') }, {}, dir);
    assert.equal(config.port, 8090);
    assert.equal(config.grpcPort, 9000);
    assert.equal(config.coapPort, 5683);
    assert.equal(config.compat.tinyfaas.enabled, true);
    const listeners = tinyfaasProfile.listeners!(config.compat.tinyfaas)!;
    assert.deepEqual(
      listeners.map((l) => [l.role ?? 'functions', l.port]),
      [
        ['management', 8080],
        ['functions', 8000],
      ],
    );
    // Without the switch: one listener on 8000, the node's API keeps 8080.
    const plain = loadConfig({ config: await configFile(dir, '[compat.tinyfaas]\nenabled = true\n') }, {}, dir);
    assert.equal(plain.port, 8080);
    assert.equal(tinyfaasProfile.listeners!(plain.compat.tinyfaas), undefined);
  });

  test('every port stays overridable; a clash with the node port is a config error naming the key', async () => {
    const moved = loadConfig(
      {
        config: await configFile(
          dir,
          '[compat.tinyfaas]\nlayout = "tinyfaas"\nmanagement-port = 18080\nport = 18000\n',
        ),
        port: 18090,
      },
      {},
      dir,
    );
    assert.equal(moved.port, 18090);
    assert.deepEqual(
      tinyfaasProfile.listeners!(moved.compat.tinyfaas)!.map((l) => l.port),
      [18080, 18000],
    );
    const clash = await configFile(dir, '[compat.tinyfaas]\nlayout = "tinyfaas"\n');
    assert.throws(
      () => loadConfig({ config: clash, port: 8080 }, {}, dir),
      (e: unknown) => e instanceof ConfigError && /management-port: 8080 is also the node's port/.test(e.message),
    );
  });
});

describe("tinyFaaS's scripts and test suite against the layout", () => {
  let conf: string;
  let node: TernProcess;
  let management: string;
  let functions: string;

  /** scripts/upload.sh FOLDER NAME ENV THREADS, its curl line with this node's management port. */
  async function uploadSh(folder: string, name: string, env: string, threads = 1): Promise<string> {
    const script = `curl ${management}/upload --data "{\\"name\\": \\"$1\\", \\"env\\": \\"$2\\", \\"threads\\": $3, \\"zip\\": \\"$(zip -r - ./* | base64 | tr -d '\\n')\\"}"`;
    const { stdout } = await run('bash', ['-c', script, 'upload.sh', name, env, String(threads)], {
      cwd: join(FNS, folder),
    });
    return stdout;
  }

  /** A script's curl request (list.sh, logs.sh, delete.sh, wipe-functions.sh): its stdout; curl exits 0 on any status. */
  async function curl(...args: string[]): Promise<string> {
    return (await run('curl', ['-s', ...args])).stdout;
  }

  before(async () => {
    conf = await mkdtemp(join(tmpdir(), 'tern-tf-layout-'));
    const config = await configFile(
      conf,
      '[compat.tinyfaas]\nlayout = "tinyfaas"\nopen-management = true\nmanagement-port = 0\nport = 0\n',
    );
    node = await startTern({ args: ['--config', config] });
    management = (await waitForOutput(node, /tinyfaas management API on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    functions = (await waitForOutput(node, /tinyfaas API on (http:\/\/127\.0\.0\.1:\d+)/))[1]!;
    // test_all.py setUpModule: any HTTP answer on both ports means tinyFaaS is up.
    assert.ok((await fetch(`${management}/`)).status > 0);
    assert.ok((await fetch(`${functions}/`)).status > 0);
  });

  after(async () => {
    await node?.stop({ cleanup: true });
    await rm(conf, { recursive: true, force: true });
  });

  test('upload.sh deploys through the management port; its reply names the functions port', async () => {
    const reply = await uploadSh('sieve-of-eratosthenes', 'sieve', 'nodejs');
    assert.ok(reply.split('\n').includes(`${functions}/sieve`), reply);
    assert.match(await uploadSh('echo', 'echo', 'python3'), /\/echo$/m);
  });

  test('test_all.py: functions answer on the functions port, sync and async', async () => {
    const sieve = await fetch(`${functions}/sieve`, { signal: AbortSignal.timeout(30_000) });
    assert.equal(sieve.status, 200);
    assert.equal(await sieve.text(), 'Found 1229 primes under 10000\n');
    const echo = await fetch(`${functions}/echo`, { method: 'POST', body: PAYLOAD });
    assert.equal(echo.status, 200);
    assert.equal(await echo.text(), PAYLOAD);
    const later = await fetch(`${functions}/sieve`, { headers: { 'X-tinyFaaS-Async': 'true' } });
    assert.equal(later.status, 202);
  });

  test('each port serves its own half, as tinyFaaS: no functions on management, no management on functions', async () => {
    assert.equal((await fetch(`${management}/sieve`)).status, 404);
    const upload = await fetch(`${functions}/upload`, { method: 'POST', body: '{}' });
    assert.equal(upload.status, 404);
    assert.equal((await fetch(`${management}/v1/info`)).status, 404, "the node's own API is elsewhere");
    assert.equal((await node.api('GET', '/v1/info')).status, 200);
  });

  test('list.sh, logs.sh, delete.sh, wipe-functions.sh', async () => {
    assert.deepEqual((await curl(`${management}/list`)).split('\n').filter(Boolean).sort(), ['echo', 'sieve']);
    await fetch(`${functions}/echo`, { method: 'POST', body: 'logged' });
    assert.equal(typeof (await curl(`${management}/logs`)), 'string');
    await curl(`${management}/delete`, '--data', '{"name": "echo"}');
    assert.equal((await fetch(`${functions}/echo`, { method: 'POST', body: 'x' })).status, 404);
    await curl(`${management}/wipe`, '--data', '');
    assert.equal(await curl(`${management}/list`), '');
  });
});
