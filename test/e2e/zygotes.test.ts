/**
 * Python instances forked from a per-version zygote (src/runtimes/process/zygote.ts), through a
 * real `tern serve`: single-use calls leave nothing for the next one, concurrent children cannot
 * reach each other's request data, a killed zygote is replaced, a redeploy gets a new zygote.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { packFiles } from '../helpers/archive.js';
import { startTern, type TernProcess } from '../helpers/node.js';
import { waitFor } from '../helpers/wait.js';

const SINGLE_USE = 'runtime = "python"\nsingle-use = true\nmax-instances = 4\n';

const TRACES = `
import os
SEEN = {"calls": 0}

def handle(req):
    before = {"global": SEEN["calls"], "tmp": sorted(os.listdir("/tmp")), "shm": sorted(os.listdir("/dev/shm"))}
    SEEN["calls"] += 1
    with open("/tmp/left-behind", "w") as f:
        f.write(req.text())
    with open("/dev/shm/left-behind", "w") as f:
        f.write(req.text())
    return {"before": before, "pid": os.getpid()}
`;

const PRYING = `
import os, time
HELD = []

def handle(req):
    if req.query == "hold":
        HELD.append(req.text())
        with open("/tmp/request", "w") as f:
            f.write(req.text())
        time.sleep(4)
        return "held"
    found = {"tmp": sorted(os.listdir("/tmp")), "reached": []}
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) in (1, os.getpid()):
            continue
        for path in ("root/tmp/request", "environ", "mem", "cwd/../tmp/request"):
            try:
                with open("/proc/%s/%s" % (pid, path), "rb") as f:
                    f.read(64)
                found["reached"].append([pid, path])
            except OSError:
                pass
    return found
`;

/**
 * The zygote processes of function `name` on this machine: their last argument is not yet an
 * instance id, and their parent is not a zygote (spare children look the same until claimed).
 */
async function zygotesOf(name: string): Promise<number[]> {
  const found = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (!argv.some((a) => a.endsWith('tern_zygote.py')) || !argv.includes(name) || !/^_+$/.test(argv.at(-2) ?? ''))
      continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    found.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
  }
  return [...found].filter(([, parent]) => !found.has(parent)).map(([pid]) => pid);
}

describe('python zygotes through tern serve', () => {
  let node: TernProcess;

  before(async () => {
    node = await startTern();
  });

  after(async () => {
    await node.stop({ cleanup: true });
  });

  async function deploy(name: string, files: Record<string, string>): Promise<void> {
    const res = await node.api('PUT', `/v1/functions/${name}`, { body: await packFiles(files) });
    assert.ok(res.status === 201 || res.status === 200, `${name}: ${res.status} ${await res.text()}`);
  }

  async function call(name: string, body = '', query = ''): Promise<string> {
    const res = await fetch(`${node.url}/fn/${name}${query ? `?${query}` : ''}`, { method: 'POST', body });
    const text = await res.text();
    assert.equal(res.status, 200, `${name}: ${text}`);
    return text;
  }

  test('a single-use call that sets a global and writes /tmp and /dev/shm leaves no trace', async () => {
    await deploy('zy-traces', { 'function.toml': SINGLE_USE, 'main.py': TRACES });
    const pids = new Set<number>();
    for (let i = 0; i < 4; i++) {
      const seen = JSON.parse(await call('zy-traces', `secret-${i}`)) as {
        before: { global: number; tmp: string[]; shm: string[] };
        pid: number;
      };
      assert.deepEqual(seen.before, { global: 0, tmp: [], shm: [] }, `call ${i}`);
      pids.add(seen.pid);
    }
    assert.equal(pids.size, 4, 'each call had a process of its own');
    assert.equal((await zygotesOf('zy-traces')).length, 1, 'the instances came from one zygote');
  });

  test('a child cannot reach the request data of a sibling running beside it', async () => {
    await deploy('zy-prying', { 'function.toml': SINGLE_USE, 'main.py': PRYING });
    const secret = 'the-sibling-secret-4711';
    const held = fetch(`${node.url}/fn/zy-prying?hold`, { method: 'POST', body: secret });
    await waitFor(async () => {
      const res = await node.api('GET', '/v1/functions/zy-prying');
      const info = (await res.json()) as { status?: { instances?: { busy?: number } } };
      return info.status?.instances?.busy === 1;
    }, 'the holding call');
    const found = await call('zy-prying', '', 'peek');
    assert.ok(!found.includes(secret), `reached the sibling's data: ${found}`);
    const parsed = JSON.parse(found) as { tmp: string[]; reached: [string, string][] };
    assert.deepEqual(parsed.tmp, [], 'a /tmp of its own');
    // Siblings and the zygote are undumpable: no memory, environment, root or cwd through /proc.
    assert.deepEqual(parsed.reached, []);
    assert.equal(await (await held).text(), 'held');
  });

  test('a killed zygote is replaced and calls go on', async () => {
    await deploy('zy-phoenix', { 'function.toml': SINGLE_USE, 'main.py': 'def handle(req):\n    return "alive"\n' });
    assert.equal(await call('zy-phoenix'), 'alive');
    const [first] = await zygotesOf('zy-phoenix');
    assert.ok(first !== undefined, 'a zygote runs');
    process.kill(first, 'SIGKILL');
    await waitFor(async () => !(await zygotesOf('zy-phoenix')).includes(first), 'the zygote to go');
    let answered = '';
    // The call that meets the dying zygote may fail; the node replaces it for the next.
    for (let i = 0; i < 3 && answered !== 'alive'; i++) {
      const res = await fetch(`${node.url}/fn/zy-phoenix`, { method: 'POST' });
      answered = await res.text();
    }
    assert.equal(answered, 'alive');
    const now = await zygotesOf('zy-phoenix');
    assert.equal(now.length, 1);
    assert.notEqual(now[0], first);
  });

  test('a redeploy gets a new zygote that runs the new code', async () => {
    const version = (v: string) => ({
      'function.toml': SINGLE_USE,
      'main.py': `def handle(req):\n    return "${v}"\n`,
    });
    await deploy('zy-versions', version('one'));
    assert.equal(await call('zy-versions'), 'one');
    const [first] = await zygotesOf('zy-versions');
    await deploy('zy-versions', version('two'));
    assert.equal(await call('zy-versions'), 'two');
    await waitFor(async () => !(await zygotesOf('zy-versions')).includes(first!), 'the old zygote to go');
  });
});
