/**
 * Container functions on a real node: an image built here from Debian's busybox-static (no
 * registry), deployed with every OCI runtime that works on this machine and refused (400, saying
 * why) with one that does not; escape tries (host files, network, root, the image's own files),
 * images refused at deploy leaving nothing on disk, memory limits, single-use and keepalive,
 * images by name (API, CLI, OpenFaaS), and nothing left once the node stops.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { packFolder } from '../../src/registry/archive.js';
import { basic } from '../fixtures/compat/openfaas/harness.js';
import { startCompatNode, type CompatNode } from '../fixtures/compat/openfaas/node.js';
import { CLI, waitForStatus, type TernProcess } from '../helpers/node.js';
import { BUSYBOX, busyboxLayer, dockerArchive, httpdConfig, writeOciLayout } from '../helpers/oci-image.js';

const run = promisify(execFile);
const canRun = process.getuid?.() === 0 && existsSync(BUSYBOX) && existsSync('/usr/sbin/runc');
const skip = canRun ? false : 'needs root, runc and busybox-static (scripts/setup.sh installs them)';

let n: CompatNode;
let node: TernProcess;
let work: string;
let working: string[] = [];
let broken: string[] = [];

interface Report {
  cold: boolean;
  error?: string;
}

async function deploy(name: string, toml: string, image?: (dir: string) => Promise<unknown>): Promise<Response> {
  const dir = join(work, name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'function.toml'), toml);
  await (
    image ?? ((d: string) => writeOciLayout(join(d, 'image'), { layers: [busyboxLayer()], config: httpdConfig() }))
  )(dir);
  return node.api('PUT', `/v1/functions/${name}`, {
    body: await packFolder(dir),
    headers: { 'content-type': 'application/gzip' },
  });
}

async function call(name: string, path: string): Promise<{ status: number; text: string; report: Report }> {
  const res = await fetch(`${node.url}/fn/${name}/${path}`);
  return {
    status: res.status,
    text: await res.text(),
    report: JSON.parse(res.headers.get('x-tern-report') ?? '{}') as Report,
  };
}

/** Host pids of every live process in a container cgroup of this node. */
async function containerPids(): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cgroup = await readFile(`/proc/${entry}/cgroup`, 'utf8').catch(() => '');
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    // A zombie is dead already (this machine's init may not reap orphans).
    if (cgroup.includes(`/tern-containers/${node.proc.pid}-`) && !/^State:\s+Z/m.test(status)) pids.push(Number(entry));
  }
  return pids;
}

before(async () => {
  if (skip) return;
  work = await mkdtemp(join(tmpdir(), 'tern-ctr-e2e-'));
  n = await startCompatNode(['openfaas']);
  node = n.node;
  // The container runtime probes each OCI runtime with a real container: wait for its verdict.
  for (;;) {
    const info = (await (await node.api('GET', '/v1/info')).json()) as {
      runtimes: { name: string; detail?: string }[];
    };
    const detail = info.runtimes.find((r) => r.name === 'container')?.detail ?? 'probing';
    if (detail !== 'probing') {
      working = [...detail.matchAll(/(\w+) [^;]*?: works/g)].map((m) => m[1]!);
      broken = [...detail.matchAll(/(\w+) [^;]*?: fails/g)].map((m) => m[1]!);
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
});

after(async () => {
  if (skip) return;
  await n.stop();
  await rm(work, { recursive: true, force: true });
});

describe('container functions', { skip }, () => {
  test('/v1/info names each OCI runtime and what it did', async () => {
    const info = (await (await node.api('GET', '/v1/info')).json()) as {
      runtimes: { name: string; available: boolean; detail: string }[];
    };
    const c = info.runtimes.find((r) => r.name === 'container')!;
    assert.match(c.detail, /crun/);
    assert.match(c.detail, /runc/);
    assert.ok(working.length > 0, c.detail);
    assert.ok(c.available);
    assert.match(c.detail, new RegExp(`default ${working[0]}`));
  });

  test('runs with every OCI runtime that works here; one that does not is a 400 that says why', async () => {
    // crun and runc, as setup installs them; runsc (gVisor), where installed, is probed but not exercised here.
    for (const rt of working.filter((r) => r !== 'runsc')) {
      const name = `bb-${rt}`;
      const toml = `name = "${name}"\nruntime = "container"\nimage = "image"\nmemory = 64\nenv = { GREETING = "from-function" }\n[container]\nruntime = "${rt}"\n`;
      const res = await deploy(name, toml);
      assert.equal(res.status, 201, await res.text());
      const r = await call(name, 'cgi-bin/whoami');
      assert.equal(r.status, 200, r.text);
      assert.match(r.text, /uid=0 gid=0 greeting=from-function/);
      assert.equal(r.report.cold, true);
      assert.equal((await call(name, 'index.html')).text, 'hello from a container\n');
    }
    for (const rt of broken) {
      const res = await deploy(`bb-${rt}`, `runtime = "container"\nimage = "image"\n[container]\nruntime = "${rt}"\n`);
      assert.equal(res.status, 400);
      assert.match(
        await res.text(),
        new RegExp(`container.runtime: \\\\"${rt}\\\\" does not work on this node: .*fails`),
      );
    }
    const unknown = await deploy(
      'bb-unknown',
      'runtime = "container"\nimage = "image"\n[container]\nruntime = "lxc"\n',
    );
    assert.equal(unknown.status, 400);
    assert.match(await unknown.text(), /"lxc\\" is not one of crun, runc, runsc/);
  });

  test('escape tries are refused: host files, network, root, the image itself', async () => {
    const name = 'escape';
    assert.equal((await deploy(name, 'runtime = "container"\nimage = "image"\n')).status, 201);
    const secret = join(work, 'host-secret');
    await writeFile(secret, 'do not read');
    const who = await call(name, 'cgi-bin/whoami');
    assert.match(who.text, /ifaces=lo,\n/, 'only loopback in its network namespace');
    assert.match(who.text, /root=bin,dev,etc,proc,tmp,www,\n/, 'only the image in its root');
    assert.match((await call(name, `cgi-bin/read?${secret}`)).text, /read failed/);
    assert.match((await call(name, 'cgi-bin/read?/proc/1/root/etc/shadow')).text, /read failed/);
    const port = new URL(node.url).port;
    assert.match((await call(name, `cgi-bin/connect?${port}`)).text, /^refused/, "the node's port is not reachable");
    assert.match((await call(name, 'cgi-bin/write')).text, /Read-only file system/);
    // The function's own processes (busybox httpd and its CGI children): gVisor's, if runsc runs here too,
    // stay inside its sandbox and the host sees only runsc's.
    const pids: number[] = [];
    for (const pid of await containerPids())
      if (/^Name:\s+busybox$/m.test(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))) pids.push(pid);
    assert.ok(pids.length > 0, 'the container runs');
    for (const pid of pids) {
      const status = await readFile(`/proc/${pid}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)![1]);
      assert.ok(uid >= 1_000_000_000, `pid ${pid} runs as host uid ${uid}`);
      assert.match(status, /^NoNewPrivs:\s+1$/m);
      assert.match(status, /^Seccomp:\s+2$/m);
    }
  });

  test('network = true: outbound through slirp4netns, still no host loopback; port chooses the port', async () => {
    assert.equal((await deploy('net', 'runtime = "container"\nimage = "image"\nnetwork = true\n')).status, 201);
    assert.match((await call('net', 'cgi-bin/whoami')).text, /ifaces=lo,tap0,\n/);
    assert.match((await call('net', 'cgi-bin/read?/etc/resolv.conf')).text, /nameserver 10\.0\.2\.3/);
    assert.match((await call('net', `cgi-bin/connect?${new URL(node.url).port}`)).text, /^refused/);
    const on80 = await deploy('port-80', 'runtime = "container"\nimage = "image"\nport = 80\n', (dir) =>
      writeOciLayout(join(dir, 'image'), { layers: [busyboxLayer()], config: httpdConfig(80) }),
    );
    assert.equal(on80.status, 201, await on80.text());
    assert.equal((await call('port-80', 'index.html')).text, 'hello from a container\n');
  });

  test('a corrupt layout or a wrong digest is refused at deploy, leaving nothing on disk', async () => {
    const rootfsBefore = await readdir(join(node.data, 'containers/rootfs'));
    const tampered = await deploy('tampered', 'runtime = "container"\nimage = "image"\n', async (dir) => {
      const built = await writeOciLayout(join(dir, 'image'), { layers: [busyboxLayer()], config: httpdConfig() });
      const blob = join(dir, 'image/blobs/sha256', built.layerDigests[0]!.slice(7));
      const bytes = await readFile(blob);
      bytes.writeUInt8(bytes.readUInt8(100) ^ 1, 100);
      await writeFile(blob, bytes);
    });
    assert.equal(tampered.status, 400);
    assert.match(await tampered.text(), /sha256 does not match its digest/);
    const corrupt = await deploy('corrupt', 'runtime = "container"\nimage = "image"\n', async (dir) => {
      await writeOciLayout(join(dir, 'image'), { layers: [busyboxLayer()], config: httpdConfig() });
      await writeFile(join(dir, 'image/index.json'), '{"schemaVersion": 2');
    });
    assert.equal(corrupt.status, 400);
    assert.match(await corrupt.text(), /index.json: not JSON/);
    assert.equal((await node.api('GET', '/v1/functions/tampered')).status, 404);
    assert.deepEqual(await readdir(join(node.data, 'containers/rootfs')), rootfsBefore);
    assert.deepEqual(
      await readdir(join(node.data, 'functions')).then((e) => e.filter((f) => /tampered|corrupt/.test(f))),
      [],
    );
  });

  test('a function over its memory is killed with a clear error', async () => {
    assert.equal((await deploy('hog', 'runtime = "container"\nimage = "image"\nmemory = 32\n')).status, 201);
    const r = await call('hog', 'cgi-bin/hog?100');
    assert.equal(r.status, 502, r.text);
    assert.equal(r.report.error, 'memory_exceeded');
    assert.match(r.text, /out of memory \(limit 32 MiB\)/);
    assert.equal((await call('hog', 'cgi-bin/hog?1')).status, 200, 'a fresh container serves again');
  });

  test('single-use starts a fresh container per call; keepalive reuses one, then reaps it', async () => {
    assert.equal((await deploy('once', 'runtime = "container"\nimage = "image"\nsingle-use = true\n')).status, 201);
    for (let i = 0; i < 2; i++) {
      const r = await call('once', 'cgi-bin/count');
      assert.deepEqual([r.text.trim(), r.report.cold], ['1', true]);
    }
    assert.equal((await deploy('kept', 'runtime = "container"\nimage = "image"\nkeepalive = "1s"\n')).status, 201);
    assert.deepEqual(
      [(await call('kept', 'cgi-bin/count')).text.trim(), (await call('kept', 'cgi-bin/count')).text.trim()],
      ['1', '2'],
    );
    await waitForStatus(node, 'kept', (s) => s.instances.total === 0);
    const again = await call('kept', 'cgi-bin/count');
    assert.deepEqual([again.text.trim(), again.report.cold], ['1', true]);
  });

  test('images by name: the API, the CLI and the OpenFaaS adapter', async () => {
    const archive = join(work, 'demo.tar');
    await writeFile(
      archive,
      dockerArchive({ layers: [busyboxLayer()], config: httpdConfig(), repoTags: ['demo/fn:2'] }),
    );
    const put = await node.api('PUT', '/v1/images/demo/fn:1', { body: await readFile(archive) });
    assert.equal(put.status, 201, await put.text());
    const env = { ...process.env, TERN_URL: node.url, TERN_TOKEN: node.token };
    const cli = await run(process.execPath, [CLI, 'image', 'import', archive], { env });
    assert.match(cli.stdout, /imported demo\/fn:2 \(sha256:/);
    const ls = await run(process.execPath, [CLI, 'image', 'ls'], { env });
    assert.match(ls.stdout, /demo\/fn:1\t.*\ndemo\/fn:2\t/);
    assert.equal(
      (await node.api('PUT', '/v1/images/demo/fn:3', { body: Buffer.from('not a tar at all') })).status,
      400,
    );

    const byName = await deploy('named', 'runtime = "container"\nimage = "demo/fn:1"\n', async () => undefined);
    assert.equal(byName.status, 201, await byName.text());
    assert.match((await call('named', 'cgi-bin/whoami')).text, /greeting=from-image/);
    const missing = await deploy('missing', 'runtime = "container"\nimage = "demo/none:1"\n', async () => undefined);
    assert.equal(missing.status, 400);
    assert.match(await missing.text(), /nor an image imported on this node/);

    const of = await fetch(`${n.urls.openfaas}/system/functions`, {
      method: 'POST',
      headers: { authorization: basic('admin', node.token), 'content-type': 'application/json' },
      body: JSON.stringify({
        service: 'of-demo',
        image: 'demo/fn:2',
        envVars: { GREETING: 'from-openfaas' },
        limits: { memory: '48Mi' },
      }),
    });
    assert.equal(of.status, 202, await of.text());
    const res = await fetch(`${n.urls.openfaas}/function/of-demo/cgi-bin/whoami`);
    assert.match(await res.text(), /greeting=from-openfaas/);
    assert.equal(
      ((await (await node.api('GET', '/v1/functions/of-demo')).json()) as { spec: { memory: number } }).spec.memory,
      48,
    );

    assert.equal((await node.api('DELETE', '/v1/images/demo/fn:2')).status, 204);
    assert.equal((await node.api('GET', '/v1/images/demo/fn:2')).status, 404);
    assert.equal((await node.api('GET', '/v1/images', { token: null })).status, 401);
  });

  test('tern new container gives a starter that builds, deploys and answers', async () => {
    const dir = join(work, 'starter-container');
    const env = { ...process.env, TERN_URL: node.url, TERN_TOKEN: node.token };
    assert.match((await run(process.execPath, [CLI, 'new', 'container', dir], { env })).stdout, /created/);
    await run('bash', [join(dir, 'build.sh')], { timeout: 60_000 });
    await run(process.execPath, [CLI, 'deploy', dir], { env });
    const res = await fetch(`${node.url}/fn/starter-container`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /Hello from a container! method=GET/);
  });

  test('nothing is left once the node stops: no container, cgroup, mount or runtime state', async () => {
    assert.ok((await containerPids()).length > 0, 'containers run before the stop');
    assert.match(node.output(), /"scratch":"/);
    const pid = node.proc.pid!;
    assert.equal(await node.stop(), 0);
    assert.deepEqual(await containerPids(), []);
    for (const h of await readdir('/sys/fs/cgroup')) {
      const left = await readdir(join('/sys/fs/cgroup', h, 'tern-containers')).catch(() => [] as string[]);
      assert.deepEqual(
        left.filter((c) => c.startsWith(`${pid}-`)),
        [],
        `cgroups left in ${h}`,
      );
    }
    const mounts = await readFile('/proc/self/mountinfo', 'utf8');
    assert.ok(!mounts.includes(node.data), 'no mount under the data folder');
    for (const rt of working) {
      const { stdout } = await run(rt, ['--root', join(node.data, 'containers/state', rt), 'list', '--quiet']);
      assert.equal(stdout.trim(), '', `${rt} still lists containers`);
    }
    // The network helpers ran with sockets in the node's scratch folder.
    const scratch = /"scratch":"([^"]+)"/.exec(node.output())![1]!;
    const helpers = await run('ps', ['-eo', 'args']);
    assert.ok(!helpers.stdout.includes(scratch), 'a network helper is left');
  });
});
