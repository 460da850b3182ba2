/**
 * The sandbox's second line: the seccomp filter, a host uid per function, no root anywhere in a
 * sandbox, no host path in its mount table. Each shown from inside a real sandbox (fixture
 * test/fixtures/process/py-escape) and, for uids, from the host's side.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DeployedFunction } from '../../src/registry/registry.js';
import { createPythonRuntime } from '../../src/runtimes/process/index.js';
import { FUNCTION_UID_BASE, FUNCTION_UID_COUNT } from '../../src/runtimes/process/uids.js';
import type { Runtime } from '../../src/runtimes/runtime.js';
import { invoke, json, memoryCgroupOf, processesMentioning, REPO, testBed, type TestBed } from './helpers.js';

interface Raw {
  result: number;
  errno: string | null;
}
interface Ran {
  code: number;
  out: string;
}

const SIGSEGV = -11;

/** Whether an i386 system call (int 0x80) faults outside any sandbox: the kernel has no i386 entry. */
function i386FaultsOnHost(): boolean {
  const code = [
    'import ctypes, mmap',
    'page = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)',
    String.raw`page.write(b"\xb8\x14\x00\x00\x00\xcd\x80\xc3")`,
    'ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))()',
  ].join('\n');
  return spawnSync('python3', ['-c', code]).signal === 'SIGSEGV';
}

async function hostUid(pid: number): Promise<number[]> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return /^Uid:\s+(.*)$/m.exec(status)![1]!.split(/\s+/).map(Number);
}

describe('process sandbox hardening', () => {
  let bed: TestBed;
  let rt: Runtime;
  let escape: DeployedFunction;

  before(async () => {
    bed = await testBed();
    rt = createPythonRuntime(bed.ctx);
    escape = await bed.fn('py-escape');
    await rt.prepare(escape);
  });

  after(async () => {
    await rt.close();
    await bed.cleanup();
  });

  async function call<T>(handler: string, name = escape.spec.name): Promise<T> {
    const inst = await bed.start(rt, { ...escape, spec: { ...escape.spec, name, handler } });
    try {
      return json(await invoke(inst)) as T;
    } finally {
      await inst.stop();
    }
  }

  test('the seccomp filter refuses namespaces, mounts, tracing, bpf, perf, keyrings and userfaultfd', async () => {
    const calls = await call<Record<string, Raw>>('main:syscalls');
    // Every call is made so that the kernel alone would accept it or fail otherwise (EINVAL,
    // EFAULT, a new namespace, an attached tracer): EPERM is the filter's answer.
    for (const name of [
      'unshare',
      'clone_newuser',
      'setns',
      'mount',
      'ptrace',
      'bpf',
      'perf_event_open',
      'keyctl',
      'userfaultfd',
    ])
      assert.deepEqual(calls[name], { result: -1, errno: 'EPERM' }, `${name}: ${JSON.stringify(calls[name])}`);
    // clone3 hides its flags from the filter: ENOSYS sends libc back to clone.
    assert.deepEqual(calls.clone3, { result: -1, errno: 'ENOSYS' });
  });

  test('`unshare -Ur id` and a mount in a new namespace fail; ordinary processes still start', async () => {
    const ran = await call<Record<string, Ran>>('main:tools');
    assert.notEqual(ran.unshare!.code, 0);
    assert.match(ran.unshare!.out, /unshare failed: Operation not permitted/);
    assert.notEqual(ran.unshare_mount!.code, 0);
    assert.doesNotMatch(ran.unshare_mount!.out, /mounted/);
    assert.deepEqual(ran.fork, { code: 0, out: 'child' });
  });

  test('system calls through the x32 and i386 entries kill the process (the filter cannot be bypassed)', async (t) => {
    if (process.arch !== 'x64') return t.skip('x86-64 only');
    const ran = await call<Record<string, Ran>>('main:other_abis');
    const SIGSYS = -31;
    assert.equal(ran.x32!.code, SIGSYS, `x32: ${JSON.stringify(ran.x32)}`);
    // A kernel built without i386 emulation (or booted with ia32_emulation=0) faults on int 0x80
    // before any filter runs: SIGSEGV then, but only if the same code faults on the host too.
    const expected = i386FaultsOnHost() ? SIGSEGV : SIGSYS;
    assert.equal(ran.i386!.code, expected, `i386: ${JSON.stringify(ran.i386)}`);
  });

  test('each function runs as a host uid of its own, never 0; nothing in its cgroup is root', async () => {
    const uids: number[] = [];
    for (const name of ['py-escape-a', 'py-escape-b']) {
      const id = `${name}-${process.pid}-uid`;
      const inst = await bed.start(rt, { ...escape, spec: { ...escape.spec, name, handler: 'main:mounts' } }, id);
      try {
        await invoke(inst);
        const [shim] = await processesMentioning(id);
        assert.ok(shim, 'the shim runs');
        const [uid, euid, suid, fsuid] = await hostUid(shim);
        assert.ok(uid! >= FUNCTION_UID_BASE && uid! < FUNCTION_UID_BASE + FUNCTION_UID_COUNT, `uid ${uid}`);
        assert.deepEqual([euid, suid, fsuid], [uid, uid, uid]);
        uids.push(uid!);
        // bwrap itself, tern-init and the shim: the same unprivileged uid on the host.
        const memory = await memoryCgroupOf(shim);
        const procs = (await readFile(join(memory!, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean);
        assert.ok(procs.length >= 3, `processes in the cgroup: ${procs.join(',')}`);
        for (const pid of procs) assert.deepEqual(await hostUid(Number(pid)), [uid, uid, uid, uid], `pid ${pid}`);
      } finally {
        await inst.stop();
      }
    }
    assert.notEqual(uids[0], uids[1], 'two functions, two uids');
  });

  test('the mount table inside names neither the data, scratch and function folders nor the checkout', async () => {
    const seen = await call<{ mountinfo: string; mounts: string }>('main:mounts');
    for (const text of [seen.mountinfo, seen.mounts]) {
      for (const hostPath of [bed.root, bed.ctx.dataDir, bed.ctx.scratchDir, escape.dir, REPO.replace(/\/$/, '')])
        assert.ok(!text.includes(hostPath), `shows ${hostPath}:\n${text}`);
      assert.ok(!text.includes('/run/tern'), `shows where the stage is:\n${text}`);
    }
    assert.match(seen.mountinfo, / \/fn\/[0-9a-f]+ \/fn ro,/, 'the function folder comes from the stage');
  });
});
