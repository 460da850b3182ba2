/**
 * Under abuse the node keeps serving every other caller (issue 25): thousands of idle connections
 * against a node with a low file limit, and wasm functions spinning while an unrelated one is called.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { packFiles, packFolder } from '../helpers/archive.js';
import { REPO, startTern, type TernProcess } from '../helpers/node.js';

const deployHello = (node: TernProcess, name = 'hello') =>
  packFolder(join(REPO, 'examples/hello')).then((body) =>
    node.api('PUT', `/v1/functions/${name}`, { body, headers: { 'content-type': 'application/gzip' } }),
  );

function idleConnection(url: string, localAddress: string): Promise<Socket | undefined> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const s = connect({ host: hostname, port: Number(port), localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', () => resolve(undefined));
    s.on('error', () => undefined);
  });
}

describe('thousands of idle connections, a node limited to 1024 open files', () => {
  let node: TernProcess;
  const sockets: Socket[] = [];
  before(async () => {
    node = await startTern({ prefix: ['prlimit', '--nofile=1024:1024'], args: ['--loops', '2'] });
    assert.equal((await deployHello(node)).status, 201);
  });
  after(async () => {
    for (const s of sockets) s.destroy();
    await node?.stop({ cleanup: true });
  });

  test('health, calls and deploys keep answering', async () => {
    for (let i = 0; i < 1500; i++) {
      const s = await idleConnection(node.url, `127.0.0.${2 + (i % 4)}`);
      if (s) sockets.push(s);
    }
    const deadline = AbortSignal.timeout(20_000);
    const health = await fetch(`${node.url}/healthz`, { signal: deadline });
    assert.equal(health.status, 200);
    const call = await fetch(`${node.url}/fn/hello`, { signal: deadline });
    assert.equal(call.status, 200);
    assert.equal(await call.text(), 'Hello from wasm!\n');
    const again = await deployHello(node);
    assert.ok(again.status === 200 || again.status === 201, `deploy: ${again.status} ${await again.text()}`);
    const open = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
    assert.ok(open < 1500, `idle connections were closed or refused (${open} of 1500 still open)`);
  });
});

describe('wasm functions that spin', () => {
  let node: TernProcess;
  before(async () => {
    node = await startTern();
    // The unrelated function gets a timeout longer than the spinners' (10 s): the test shows it is
    // answered before they end, whatever a loaded machine does to its latency.
    const hello = await packFiles({
      'function.toml': 'name = "hello"\nruntime = "wasm"\nhandler = "hello.wasm"\ntimeout = "60s"\n',
      'hello.wasm': await readFile(join(REPO, 'examples/hello/hello.wasm')),
    });
    const deployed = await node.api('PUT', '/v1/functions/hello', {
      body: hello,
      headers: { 'content-type': 'application/gzip' },
    });
    assert.equal(deployed.status, 201, await deployed.text());
    const loop = await readFile(join(REPO, 'test/fixtures/wasm/build/loop.wasm'));
    const spin = await packFiles({
      'function.toml': 'name = "spin"\nruntime = "wasm"\nhandler = "loop.wasm"\ntimeout = "10s"\nmax-instances = 8\n',
      'loop.wasm': loop,
    });
    const res = await node.api('PUT', '/v1/functions/spin', {
      body: spin,
      headers: { 'content-type': 'application/gzip' },
    });
    assert.equal(res.status, 201, await res.text());
  });
  after(async () => {
    await node?.stop({ cleanup: true });
  });

  test('an unrelated call answers while they spin, not after them', async () => {
    let firstSpinEnded = false;
    const spinning = Array.from({ length: 4 }, () =>
      fetch(`${node.url}/fn/spin`).then((r) => {
        firstSpinEnded = true;
        return r.status;
      }),
    );
    // Wait until all four are running (they hold instances until their 10 s timeout).
    for (;;) {
      const s = (await (await node.api('GET', '/v1/functions/spin')).json()) as {
        status: { instances: { busy: number } };
      };
      if (s.status.instances.busy >= 4 || firstSpinEnded) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    // Seven calls one after another, all answered before the first spinning call ends: before the
    // fix they queued behind the spinners for the whole timeout.
    for (let i = 0; i < 7; i++) {
      const res = await fetch(`${node.url}/fn/hello`);
      assert.equal(res.status, 200);
      await res.text();
      assert.equal(firstSpinEnded, false, `call ${i + 1} answered only after a spinning call had ended`);
    }
    assert.deepEqual(await Promise.all(spinning), [504, 504, 504, 504]);
  });
});
