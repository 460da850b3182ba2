/**
 * Each isolation property shown by a function trying to break it from inside a real sandbox
 * (fixtures in test/fixtures/process/py-hostile).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isTernError } from '../../src/core/errors.js';
import type { DeployedFunction } from '../../src/registry/registry.js';
import { createPythonRuntime } from '../../src/runtimes/process/index.js';
import type { Instance, Runtime } from '../../src/runtimes/runtime.js';
import { SANDBOX_UID } from '../../src/runtimes/process/uids.js';
import { cgroupsMentioning, invoke, json, processesMentioning, testBed, type TestBed } from './helpers.js';

interface Attempt {
  ok: boolean;
  value?: unknown;
  error?: string;
}

describe('process sandbox isolation', () => {
  let bed: TestBed;
  let rt: Runtime;
  let hostile: DeployedFunction;
  let instance: Instance;
  let secretDir: string;

  before(async () => {
    bed = await testBed();
    rt = createPythonRuntime(bed.ctx);
    hostile = await bed.fn('py-hostile');
    await rt.prepare(hostile);
    instance = await bed.start(rt, hostile);
    secretDir = await mkdtemp(join(tmpdir(), 'tern-secret-'));
    await writeFile(join(secretDir, 'secret.txt'), 'the host secret\n', { mode: 0o644 });
  });

  after(async () => {
    await rt.close();
    await bed.cleanup();
    await rm(secretDir, { recursive: true, force: true });
  });

  async function attempt(handler: string, body: string, query = ''): Promise<Attempt> {
    const fn = { ...hostile, spec: { ...hostile.spec, handler } };
    const inst = handler === hostile.spec.handler ? instance : await bed.start(rt, fn);
    try {
      return json(await invoke(inst, { method: 'POST', body: Buffer.from(body), query })) as Attempt;
    } finally {
      if (inst !== instance) await inst.stop();
    }
  }

  test('host files outside the allowed folders cannot be read', async () => {
    const secret = await attempt('main:read_file', join(secretDir, 'secret.txt'));
    assert.equal(secret.ok, false, `read the host secret: ${JSON.stringify(secret)}`);
    assert.match(secret.error!, /FileNotFoundError/);
    for (const path of ['/root', '/home', '/work', secretDir, '/var', '/run', '/sys']) {
      const listed = await attempt('main:list_dir', path);
      assert.equal(listed.ok, false, `listed ${path}: ${JSON.stringify(listed.value)}`);
    }
    // The sandbox's /tmp is its own, empty at start: the host's temp files are not there.
    const tmp = await attempt('main:list_dir', '/tmp');
    assert.deepEqual(tmp, { ok: true, value: [] });
    const passwd = await attempt('main:read_file', '/etc/passwd');
    assert.equal(passwd.ok, true);
    assert.doesNotMatch(String(passwd.value), /^(?!root|function|nobody)\w+:/m, 'only root, function and nobody');
    const shadow = await attempt('main:read_file', '/etc/shadow');
    assert.equal(shadow.ok, false);
  });

  test('the function folder, the shims and the system folders are read-only', async () => {
    for (const path of [
      '/fn/main.py',
      '/fn/new-file',
      '/tern/python/tern_shim.py',
      '/usr/bin/evil',
      '/etc/passwd',
      '/evil',
    ]) {
      const wrote = await attempt('main:write_file', path);
      assert.equal(wrote.ok, false, `wrote ${path}`);
      assert.match(wrote.error!, /Read-only file system|Permission denied/);
    }
    const tmp = await attempt('main:write_file', '/tmp/scratch.txt');
    assert.equal(tmp.ok, true, 'the private /tmp is writable');
    assert.equal((await stat(join(hostile.dir, 'main.py'))).isFile(), true);
    assert.deepEqual((await readdir(hostile.dir)).sort(), ['function.toml', 'main.py']);
  });

  test('without network = true, no connection reaches a server on the host loopback', async () => {
    let connections = 0;
    const sockets = new Set<Socket>();
    const server: Server = createServer((s) => {
      connections++;
      sockets.add(s);
      s.resume();
      s.end('hi from the host\n');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const closed = await attempt('main:connect', '', `port=${port}`);
      assert.equal(closed.ok, false);
      assert.match(closed.error!, /ConnectionRefusedError|OSError|timed out/);
      assert.equal(connections, 0);
      // With network = true the host's loopback is still out of reach (network.test.ts).
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('the function runs as an unprivileged user without capabilities', async () => {
    const id = json(
      await invoke(await bed.start(rt, { ...hostile, spec: { ...hostile.spec, handler: 'main:identity' } })),
    ) as {
      uid: number;
      euid: number;
      gid: number;
      groups: number[];
      status: Record<string, string>;
      hostname: string;
      env: Record<string, string>;
      cwd: string;
    };
    // Inside its user namespace; on the host it is a uid of its own (hardening.test.ts).
    assert.equal(id.uid, SANDBOX_UID);
    assert.equal(id.euid, SANDBOX_UID);
    assert.equal(id.gid, SANDBOX_UID);
    assert.deepEqual(id.groups, []);
    assert.equal(id.status.CapEff, '0000000000000000');
    assert.equal(id.status.CapPrm, '0000000000000000');
    assert.equal(id.status.CapBnd, '0000000000000000');
    assert.equal(id.status.NoNewPrivs, '1');
    assert.equal(id.status.Seccomp, '2', 'a seccomp filter is on');
    assert.equal(id.hostname, 'py-hostile');
    assert.equal(id.cwd, '/fn');
    // A cleared environment: the host's variables do not leak in.
    assert.deepEqual(Object.keys(id.env).sort(), [
      'HOME',
      'LANG',
      'PATH',
      'PWD',
      'TERN_FUNCTION',
      'TERN_INSTANCE',
      'TMPDIR',
    ]);
    assert.equal(id.env.HOME, '/tmp');
    assert.equal(id.env.PWD, '/fn');
  });

  test('only the sandbox’s own processes are visible', async () => {
    const seen = json(
      await invoke(await bed.start(rt, { ...hostile, spec: { ...hostile.spec, handler: 'main:processes' } })),
    ) as {
      self: number;
      processes: { pid: number; cmd: string }[];
    };
    // A plain sandbox holds init and the shim; a zygote's adds the zygote and its other children
    // (the same function's instances: undumpable, so their memory and files stay out of reach).
    assert.ok(seen.processes.length <= 8, `sees ${JSON.stringify(seen.processes)}`);
    assert.ok(seen.self <= 8, 'its pid is from a fresh pid namespace');
    assert.ok(!seen.processes.some((p) => p.pid === process.pid && p.cmd.includes('node')), 'sees the test process');
    assert.ok(
      seen.processes.every(
        (p) =>
          p.cmd === '/tern/bin/tern-init' ||
          p.cmd.includes('tern_shim.py') ||
          p.cmd.includes('tern_zygote.py /fn main:processes py-hostile'),
      ),
      JSON.stringify(seen.processes),
    );
  });

  test('a fork bomb is stopped by the pids limit and cleaned up with the instance', async () => {
    const inst = await bed.start(
      rt,
      { ...hostile, spec: { ...hostile.spec, handler: 'main:fork_bomb' } },
      `py-hostile-bomb-${process.pid}`,
    );
    const bomb = json(await invoke(inst)) as { forked: number; error: string | null };
    assert.ok(bomb.forked < 64, `forked ${bomb.forked}`);
    assert.match(String(bomb.error), /BlockingIOError|Resource temporarily unavailable/);
    // The test process is unharmed: it can still start processes of its own.
    const { execFileSync } = await import('node:child_process');
    assert.equal(execFileSync('/bin/echo', ['still here']).toString(), 'still here\n');
    assert.ok(
      (await processesMentioning(`py-hostile-bomb-${process.pid}`)).length > 1,
      'the bomb’s children are alive until the instance ends',
    );
    await inst.kill();
    assert.deepEqual(await processesMentioning(`py-hostile-bomb-${process.pid}`), []);
    assert.deepEqual(await cgroupsMentioning(`py-hostile-bomb-${process.pid}`), []);
  });

  test('a memory hog is killed by the memory limit and reported; the next instance works', async () => {
    const fn = { ...hostile, spec: { ...hostile.spec, handler: 'main:memory_hog', memory: 48 } };
    const inst = await bed.start(rt, fn, `py-hostile-hog-${process.pid}`);
    const exited = new Promise<string>((resolve) => inst.onExit(resolve));
    await assert.rejects(invoke(inst), (e: unknown) => {
      assert.ok(isTernError(e));
      assert.equal(e.code, 'function_crashed');
      assert.match(e.message, /out of memory \(limit 48 MiB\)/);
      return true;
    });
    assert.match(await exited, /out of memory/);
    await assert.rejects(invoke(inst), (e: unknown) => isTernError(e) && e.code === 'function_crashed');
    await inst.stop();
    assert.deepEqual(await cgroupsMentioning(`py-hostile-hog-${process.pid}`), []);
    assert.deepEqual(await processesMentioning(`py-hostile-hog-${process.pid}`), []);
    const next = await bed.start(rt, { ...hostile, spec: { ...hostile.spec, handler: 'main:read_file' } });
    const read = json(await invoke(next, { method: 'POST', body: Buffer.from('/fn/function.toml') })) as Attempt;
    assert.equal(read.ok, true);
    assert.match(String(read.value), /py-hostile/);
  });
});
