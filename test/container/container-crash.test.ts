/**
 * A node killed with SIGKILL cannot stop its containers: the next node on the same data folder
 * removes them (the OCI runtimes' state under <data>/containers/state, the dead node's cgroups)
 * before it serves containers again.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { packFolder } from '../../src/registry/archive.js';
import { startTern, type TernProcess } from '../helpers/node.js';
import { BUSYBOX, busyboxLayer, httpdConfig, writeOciLayout } from '../helpers/oci-image.js';

const canRun = process.getuid?.() === 0 && existsSync(BUSYBOX) && existsSync('/usr/sbin/runc');

/** Live host pids in the container cgroups of node `pid` (a zombie whose parent is a non-reaping init is dead). */
async function pidsOfNode(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cgroup = await readFile(`/proc/${entry}/cgroup`, 'utf8').catch(() => '');
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    if (cgroup.includes(`/tern-containers/${pid}-`) && !/^State:\s+Z/m.test(status)) out.push(Number(entry));
  }
  return out;
}

async function containerDetail(node: TernProcess): Promise<string> {
  for (;;) {
    const info = (await (await node.api('GET', '/v1/info')).json()) as {
      runtimes: { name: string; detail?: string }[];
    };
    const detail = info.runtimes.find((r) => r.name === 'container')?.detail ?? 'probing';
    if (detail !== 'probing') return detail;
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('containers of a node killed with SIGKILL are removed by the next node', { skip: !canRun }, async () => {
  const first = await startTern();
  const fn = join(first.data, '..', `${first.data.split('/').pop()}-fn`);
  try {
    await containerDetail(first);
    await mkdir(fn, { recursive: true });
    await writeFile(
      join(fn, 'function.toml'),
      'name = "left"\nruntime = "container"\nimage = "image"\nkeepalive = "10m"\n',
    );
    await writeOciLayout(join(fn, 'image'), { layers: [busyboxLayer()], config: httpdConfig() });
    const put = await first.api('PUT', '/v1/functions/left', {
      body: await packFolder(fn),
      headers: { 'content-type': 'application/gzip' },
    });
    assert.equal(put.status, 201, await put.text());
    assert.equal((await fetch(`${first.url}/fn/left/index.html`)).status, 200);
    const deadPid = first.proc.pid!;
    assert.ok((await pidsOfNode(deadPid)).length > 0);
    await first.stop({ signal: 'SIGKILL' });
    assert.ok((await pidsOfNode(deadPid)).length > 0, 'the container outlived its node');

    const second = await startTern({ data: first.data });
    try {
      assert.match(await containerDetail(second), /runc [^;]*works/);
      assert.deepEqual(await pidsOfNode(deadPid), []);
      for (const h of await readdir('/sys/fs/cgroup')) {
        const left = await readdir(join('/sys/fs/cgroup', h, 'tern-containers')).catch(() => [] as string[]);
        assert.deepEqual(
          left.filter((c) => c.startsWith(`${deadPid}-`)),
          [],
          `cgroups of the dead node in ${h}`,
        );
      }
      assert.equal((await fetch(`${second.url}/fn/left/index.html`)).status, 200, 'the function serves again');
    } finally {
      await second.stop({ cleanup: true });
    }
  } finally {
    await first.stop({ cleanup: true });
    await rm(fn, { recursive: true, force: true });
  }
});
