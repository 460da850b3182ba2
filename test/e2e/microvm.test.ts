/**
 * Micro-VM functions under the pool, booted for real (emulation here): single-use gives a new VM per
 * call, keepalive reaps an idle VM, and no qemu process outlives the node. Boots cost seconds: 3 here.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { packFolder } from '../helpers/archive.js';
import { REPO, startTern, waitForStatus, type TernProcess } from '../helpers/node.js';

let node: TernProcess;
let work: string;

/** A copy of examples/hello-vm under another name with extra function.toml keys. */
async function vmFunction(name: string, extra: string): Promise<Buffer> {
  const dir = join(work, name);
  await cp(join(REPO, 'examples/hello-vm'), dir, { recursive: true });
  const toml = (await readFile(join(dir, 'function.toml'), 'utf8'))
    .replace(/^name = .*$/m, `name = "${name}"`)
    .replace(/^keepalive = .*$/m, '');
  await writeFile(join(dir, 'function.toml'), `${extra}\n${toml}`);
  return packFolder(dir);
}

async function qemuPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmd = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes('qemu-system') && cmd.includes(node.data)) pids.push(Number(entry));
  }
  return pids;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'tern-vm-'));
  node = await startTern();
  const info = (await (await node.api('GET', '/v1/info')).json()) as {
    runtimes: { name: string; available: boolean; detail?: string }[];
  };
  const vm = info.runtimes.find((r) => r.name === 'microvm');
  assert.ok(vm, 'the node lists the microvm runtime');
});
after(async () => {
  await node.stop({ cleanup: true });
  await rm(work, { recursive: true, force: true });
});

test('single-use: each call boots its own VM', async () => {
  const res = await node.api('PUT', '/v1/functions/vm-once', {
    body: await vmFunction('vm-once', 'single-use = true'),
  });
  assert.equal(res.status, 201, await res.text());
  const instances: string[] = [];
  for (let i = 0; i < 2; i++) {
    const call = await fetch(`${node.url}/fn/vm-once/`);
    assert.equal(call.status, 200);
    assert.match(await call.text(), /Hello from a micro-VM!/);
    const report = JSON.parse(call.headers.get('x-tern-report')!) as { instance: string; cold: boolean };
    assert.equal(report.cold, true);
    instances.push(report.instance);
  }
  assert.notEqual(instances[0], instances[1]);
  await waitForStatus(node, 'vm-once', (s) => s.instances.total === 0);
});

test('keepalive reaps an idle VM, and no qemu outlives the node', async () => {
  const res = await node.api('PUT', '/v1/functions/vm-brief', {
    body: await vmFunction('vm-brief', 'keepalive = "1s"'),
  });
  assert.equal(res.status, 201, await res.text());
  const call = await fetch(`${node.url}/fn/vm-brief/`);
  assert.equal(call.status, 200);
  await waitForStatus(node, 'vm-brief', (s) => s.instances.total === 0, 30_000);
  assert.deepEqual(await qemuPids(), [], 'the reaped VM left no qemu process');

  // One more warm VM, then stop the node with it running.
  assert.equal((await fetch(`${node.url}/fn/vm-brief/`)).status, 200);
  assert.ok((await qemuPids()).length > 0, 'a warm VM runs as a qemu process');
  assert.equal(await node.stop(), 0);
  assert.deepEqual(await qemuPids(), [], 'no qemu process outlives the node');
});
