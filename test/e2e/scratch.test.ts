/**
 * Scratch folders do not outlive a crash (issue 25, item 4). Real `tern serve` processes with a
 * TMPDIR of the test's own, so the scratch folders they make can be counted: a node killed with -9
 * and restarted leaves exactly one; another running node's is untouched; a failed start leaves none.
 * The sweep's owner check (dead pid, reused pid, reboot, other data folder) runs on marked folders.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { claimScratch, OWNER_FILE, processStartTime, sweepStaleScratch } from '../../src/scratch.js';
import { CLI, startTern, type TernProcess } from '../helpers/node.js';

/** The scratch folder a node logged when it started serving. */
function scratchOf(node: TernProcess): string {
  const m = /"event":"serving".*?"scratch":"([^"]+)"/.exec(node.output());
  assert.ok(m, `no serving line:\n${node.output()}`);
  return m[1]!;
}

async function scratchFolders(root: string): Promise<string[]> {
  return (await readdir(root)).filter((n) => n.startsWith('tern-')).sort();
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

describe('scratch folders of real nodes', () => {
  let root: string;
  const nodes: TernProcess[] = [];
  const start = async (data?: string) => {
    const node = await startTern({ env: { TMPDIR: root }, ...(data ? { data } : {}) });
    nodes.push(node);
    return node;
  };
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'scratch-root-'));
  });
  after(async () => {
    for (const node of nodes) await node.stop({ cleanup: true });
    await rm(root, { recursive: true, force: true });
  });

  test('kill -9 then restart leaves one scratch folder for that node; the other node keeps its own', async () => {
    const a = await start();
    const b = await start();
    const [aScratch, bScratch] = [scratchOf(a), scratchOf(b)];
    assert.deepEqual(await scratchFolders(root), [basename(aScratch), basename(bScratch)].sort());
    const bOwner = await readFile(join(bScratch, OWNER_FILE), 'utf8');

    await a.stop({ signal: 'SIGKILL' });
    assert.ok(await exists(aScratch), 'a node killed with -9 cannot remove its scratch');

    const again = await start(a.data);
    const againScratch = scratchOf(again);
    assert.notEqual(againScratch, aScratch);
    assert.deepEqual(await scratchFolders(root), [basename(againScratch), basename(bScratch)].sort());
    assert.match(again.output(), /"event":"scratch_swept"/);
    assert.equal(await readFile(join(bScratch, OWNER_FILE), 'utf8'), bOwner, "the running node's folder is untouched");
    assert.equal((await fetch(`${b.url}/healthz`)).status, 200);

    assert.equal(await again.stop(), 0);
    assert.equal(await b.stop(), 0);
    assert.deepEqual(await scratchFolders(root), [], 'a clean stop removes the scratch folder');
  });

  test('a node that fails to start (port in use) leaves no scratch folder', async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    const data = await mkdtemp(join(tmpdir(), 'scratch-failed-data-'));
    try {
      const before = await scratchFolders(root);
      const proc = spawn(
        process.execPath,
        [
          CLI,
          'serve',
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--coap-port',
          '0',
          '--grpc-port',
          '0',
          '--data',
          data,
        ],
        {
          env: { ...process.env, TMPDIR: root, TERN_TOKEN: 'test-token-0123456789abcdef' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let out = '';
      proc.stdout.on('data', (c: Buffer) => (out += c.toString()));
      proc.stderr.on('data', (c: Buffer) => (out += c.toString()));
      const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
      assert.notEqual(code, 0, out);
      assert.match(out, /EADDRINUSE/);
      assert.deepEqual(await scratchFolders(root), before, out);
    } finally {
      busy.close();
      await rm(data, { recursive: true, force: true });
    }
  });
});

describe('scratch sweep: whose folder is stale', () => {
  let root: string;
  let data: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'scratch-sweep-'));
    data = await mkdtemp(join(tmpdir(), 'scratch-sweep-data-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
    await rm(data, { recursive: true, force: true });
  });

  async function folder(name: string, owner?: Record<string, unknown>): Promise<string> {
    const dir = join(root, name);
    await mkdir(dir);
    await writeFile(join(dir, 'work'), 'x');
    if (owner) await writeFile(join(dir, OWNER_FILE), JSON.stringify(owner));
    return dir;
  }

  async function deadPid(): Promise<number> {
    const child = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => child.once('exit', resolve));
    return child.pid!;
  }

  test('only dead owners of this data folder are swept; pid reuse and reboots do not look alive', async () => {
    const me = { pid: process.pid, started: processStartTime(process.pid) };
    const boot = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    const live = await folder('tern-live', { data, ...me, boot });
    const dead = await folder('tern-dead', { data, pid: await deadPid() });
    const reused = await folder('tern-reused', { data, pid: process.pid, started: '1', boot });
    const rebooted = await folder('tern-rebooted', { data, ...me, boot: 'another-boot' });
    const otherData = await folder('tern-other', { data: `${data}-other`, pid: await deadPid() });
    const unmarked = await folder('tern-unmarked');
    const outside = await folder('elsewhere', { data, pid: await deadPid() });
    await symlink(outside, join(root, 'tern-link'));

    const swept = await sweepStaleScratch(data, root);
    assert.deepEqual(swept.sort(), [dead, rebooted, reused].sort());
    for (const kept of [live, otherData, unmarked, outside]) assert.ok(await exists(join(kept, 'work')), kept);
    assert.ok(await exists(join(root, 'tern-link')));

    const claimed = await claimScratch(data, root);
    assert.deepEqual(claimed.swept, []);
    const owner = JSON.parse(await readFile(join(claimed.dir, OWNER_FILE), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(owner, { data, ...me, boot });
    await claimed.remove();
    assert.equal(await exists(claimed.dir), false);
  });
});
