/**
 * Policies stay node-wide and exact however many event loops serve (issue 17): instances a
 * function may have, the memory budget and the queue are counted across the loops; each call is
 * counted once in /metrics and in recent calls; SIGTERM drains calls running on every loop.
 * The nodes run with several loops and calls arrive on many connections, so they spread over them.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'node:http';
import { packFiles } from '../helpers/archive.js';
import { REPO, startTern, type TernProcess } from '../helpers/node.js';

const CGI = join(REPO, 'test/fixtures/wasm/build/cgi.wasm');

async function deployCgi(node: TernProcess, name: string, extra: string): Promise<void> {
  const body = await packFiles({
    'function.toml': `name = "${name}"\nruntime = "wasm"\nhandler = "cgi.wasm"\nmemory = 32\n${extra}`,
    'cgi.wasm': await readFile(CGI),
  });
  const res = await node.api('PUT', `/v1/functions/${name}`, { body, headers: { 'content-type': 'application/gzip' } });
  assert.equal(res.status, 201, await res.text());
}

/** One GET on a connection of its own (so that calls spread over the loops). */
function get(url: string): Promise<{ status: number; instance: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        const report = JSON.parse(String(res.headers['x-tern-report'] ?? '{}')) as { instance?: string };
        resolve({ status: res.statusCode ?? 0, instance: report.instance ?? '' });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** `n` calls at once, each on a connection of its own. */
function burst(url: string, n: number): Promise<{ status: number; instance: string }[]> {
  return Promise.all(Array.from({ length: n }, () => get(url)));
}

/** The sum of every series of `name` whose labels include `labels` (cold and warm starts, say). */
function metric(text: string, name: string, labels: string): number {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) && l.includes(labels))
    .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

describe('policies across event loops', () => {
  let node: TernProcess;
  let conf: string;
  before(async () => {
    conf = await mkdtemp(join(tmpdir(), 'tern-loops-conf-'));
    await writeFile(join(conf, 'tern.toml'), 'memory-budget = 96\n[queue]\ncapacity = 5\nwait = "20s"\n');
    node = await startTern({ args: ['--loops', '3', '--config', join(conf, 'tern.toml')] });
  });
  after(async () => {
    await node?.stop({ cleanup: true });
    await rm(conf, { recursive: true, force: true });
  });

  test('max-instances = 3 under 50 concurrent calls: never more than 3 instances; each call counted once', async () => {
    await deployCgi(node, 'three', 'max-instances = 3\nkeepalive = "60s"\n');
    const results = await burst(`${node.url}/fn/three?nap=30`, 50);
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 429);
    // The queue holds 5 (node-wide): what neither an instance nor the queue could take was refused.
    assert.equal(ok.length + refused.length, 50, JSON.stringify(results.map((r) => r.status)));
    const instances = new Set(ok.map((r) => r.instance));
    assert.ok(instances.size <= 3, `instances used: ${[...instances].join(', ')}`);
    const status = (await (await node.api('GET', '/v1/functions/three')).json()) as {
      status: { instances: { total: number }; invocations: number };
    };
    assert.ok(status.status.instances.total <= 3);
    assert.equal(status.status.invocations, ok.length + refused.length);
    const metrics = await (await node.api('GET', '/metrics')).text();
    assert.equal(metric(metrics, 'tern_calls_total', 'function="three",status="200"'), ok.length);
    const recent = (await (await node.api('GET', '/v1/calls?function=three&limit=100')).json()) as { calls: unknown[] };
    assert.equal(recent.calls.length, 50);
  });

  test('the memory budget holds across loops: 96 MiB is three 32 MiB instances, whatever max-instances says', async () => {
    await node.api('DELETE', '/v1/functions/three');
    await deployCgi(node, 'budget', 'max-instances = 8\n');
    const results = await burst(`${node.url}/fn/budget?nap=30`, 12);
    const instances = new Set(results.filter((r) => r.status === 200).map((r) => r.instance));
    assert.ok(instances.size <= 3, `instances used: ${[...instances].join(', ')}`);
    const info = (await (await node.api('GET', '/v1/info')).json()) as { capacity: { usedMiB: number } };
    assert.ok(info.capacity.usedMiB <= 96);
  });
});

describe('SIGTERM with calls on several loops', () => {
  test('every in-flight call finishes, then the node exits cleanly', async () => {
    const node = await startTern({ args: ['--loops', '3'] });
    try {
      await deployCgi(node, 'nap', 'max-instances = 8\n');
      const calls = burst(`${node.url}/fn/nap?nap=800`, 6);
      // Wait until they are all running (busy instances, on whichever loops took them).
      for (let i = 0; i < 100; i++) {
        const s = (await (await node.api('GET', '/v1/functions/nap')).json()) as {
          status: { instances: { busy: number } };
        };
        if (s.status.instances.busy >= 6) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      node.proc.kill('SIGTERM');
      const results = await calls;
      assert.deepEqual(
        results.map((r) => r.status),
        [200, 200, 200, 200, 200, 200],
      );
      assert.equal(await node.stop(), 0);
    } finally {
      await node.stop({ cleanup: true });
    }
  });
});

describe('a wasm guest that sleeps, on one loop', () => {
  test('sleeps on a worker, not on the event loop: a call beside it is answered first', async () => {
    const node = await startTern({ args: ['--loops', '1'] });
    try {
      await deployCgi(node, 'sleeper', 'max-instances = 4\n');
      await deployCgi(node, 'other', '');
      // Warm both up so that their calls are eligible to run inline on the loop.
      for (let i = 0; i < 3; i++) {
        assert.equal((await get(`${node.url}/fn/sleeper`)).status, 200);
        assert.equal((await get(`${node.url}/fn/other`)).status, 200);
      }
      let sleeperDone = false;
      const sleeping = get(`${node.url}/fn/sleeper?nap=1500`).then((r) => {
        sleeperDone = true;
        return r.status;
      });
      const beside = await get(`${node.url}/fn/other`);
      assert.equal(beside.status, 200);
      // Had the guest slept inline, the loop could answer nothing until it woke.
      assert.equal(sleeperDone, false);
      assert.equal(await sleeping, 200);
    } finally {
      await node.stop({ cleanup: true });
    }
  });
});
