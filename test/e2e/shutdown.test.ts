/**
 * Clean shutdown: SIGTERM drains an in-flight call, stops every instance, and leaves no child
 * process and no scratch folder behind.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, stat } from 'node:fs/promises';
import { test } from 'node:test';
import { packFiles } from '../helpers/archive.js';
import { startTern } from '../helpers/node.js';

/** Every live descendant of a pid, from /proc. */
async function descendants(root: number): Promise<number[]> {
  const parents = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (!parents.has(ppid)) parents.set(ppid, []);
    parents.get(ppid)!.push(Number(entry));
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    for (const child of parents.get(stack.pop()!) ?? []) {
      out.push(child);
      stack.push(child);
    }
  }
  return out;
}

/** A process that still runs; a zombie (exited, not yet reaped by init) does not count. */
async function alive(pid: number): Promise<string | undefined> {
  const s = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (s === undefined || s.slice(s.lastIndexOf(')') + 2).startsWith('Z')) return undefined;
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replaceAll('\0', ' ');
}

test('SIGTERM drains in-flight calls and leaves nothing behind', async () => {
  const node = await startTern();
  try {
    const warm = (runtime: string, files: Record<string, string>) =>
      packFiles({ 'function.toml': `runtime = "${runtime}"\nmin-instances = 1\n`, ...files });
    const deploys: [string, Buffer][] = [
      [
        'py',
        await warm('python', {
          'main.py': 'import time\ndef handle(req):\n    time.sleep(float(req.text() or "0"))\n    return "slept"\n',
        }),
      ],
      ['js', await warm('node', { 'index.js': 'export default () => "hi"\n' })],
      ['sh', await warm('binary', { main: '#!/bin/sh\necho hi\n' })],
    ];
    for (const [name, body] of deploys)
      assert.equal((await node.api('PUT', `/v1/functions/${name}`, { body })).status, 201);
    for (const [name] of deploys) {
      const res = await fetch(`${node.url}/fn/${name}`);
      assert.equal(res.status, 200, `${name}: ${await res.text()}`);
    }

    const children = await descendants(node.proc.pid!);
    assert.ok(children.length >= 3, `warm sandboxes run as child processes (${children.length})`);
    const scratch = /"scratch":"([^"]+)"/.exec(node.output())?.[1];
    assert.ok(scratch && (await stat(scratch)).isDirectory());

    const inflight = fetch(`${node.url}/fn/py`, { method: 'POST', body: '1.5' });
    await waitFor(
      async () =>
        ((await (await node.api('GET', '/v1/functions/py')).json()) as { status: { instances: { busy: number } } })
          .status.instances.busy === 1,
    );
    node.proc.kill('SIGTERM');
    const res = await inflight;
    assert.equal(res.status, 200, 'the in-flight call finished during the drain');
    assert.equal(await res.text(), 'slept');
    assert.equal(await node.stop(), 0);

    for (const pid of children) assert.equal(await alive(pid), undefined, `process ${pid} outlived the node`);
    await assert.rejects(stat(scratch!), 'the scratch folder is gone');
  } finally {
    await node.stop({ cleanup: true });
  }
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((r) => setTimeout(r, 20));
  }
}
