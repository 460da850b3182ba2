/**
 * The example VM booted for real (under KVM where a guest runs, else emulation), driven through
 * the Runtime API. Three boots in all: two VMs side by side, and one that never calls back.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isTernError } from '../../src/core/errors.js';
import { createInvocation } from '../../src/core/invocation.js';
import { findFirecracker } from '../../src/runtimes/microvm/firecracker.js';
import { MicrovmInstance } from '../../src/runtimes/microvm/index.js';
import type { DeployedFunction } from '../../src/registry/registry.js';
import type { Instance } from '../../src/runtimes/runtime.js';
import { EXAMPLE, exampleFunction, exists, pgrep, testRuntime, vmSkipReason, type TestRuntime } from './helpers.js';

const skip = vmSkipReason();
if (skip) console.log(`# microvm VM tests skipped: ${skip}`);

function invoke(
  instance: Instance,
  init: { path?: string; query?: string; method?: string; body?: string; headers?: Record<string, string> } = {},
) {
  const inv = createInvocation({ function: 'hello-vm', trigger: 'http', ...init, body: Buffer.from(init.body ?? '') });
  return instance.call(inv, new AbortController().signal);
}

/** start(), and on failure the guest's last console lines in the error: a failed boot says why. */
async function start(t: TestRuntime, fn: DeployedFunction, id: string): Promise<MicrovmInstance> {
  try {
    return asVm(await t.runtime.start(fn, { id, log: t.log, scratchRoot: t.scratch }));
  } catch (e) {
    const tail = t.logs
      .filter((l) => l.instance === id)
      .slice(-30)
      .map((l) => `  ${l.line}`)
      .join('\n');
    throw new Error(`start of ${id} failed: ${(e as Error).message}\nlast console lines:\n${tail}`, { cause: e });
  }
}

function asVm(instance: Instance): MicrovmInstance {
  assert.ok(instance instanceof MicrovmInstance);
  return instance;
}

describe('micro-VM runtime with the hello-vm example', { skip }, () => {
  let t: TestRuntime;
  let accel: 'kvm' | 'tcg';
  const unique = `${process.pid}-${Date.now().toString(36)}`;

  before(async () => {
    t = await testRuntime({ accel: 'auto' });
  });
  after(() => t.dispose());

  test('the probe says which accelerator VMs get, and why not KVM', async () => {
    const probe = await t.runtime.probe();
    assert.equal(probe.available, true);
    assert.ok(probe.detail === 'kvm' || probe.detail?.startsWith('tcg ('), `detail: ${probe.detail}`);
    accel = probe.detail === 'kvm' ? 'kvm' : 'tcg';
    console.log(`# microvm probe: ${probe.detail}`);
  });

  test('two starts give two VMs that serve calls; stop and a VM dying leave no process, folder or record', async () => {
    const fn = exampleFunction();
    await t.runtime.prepare(fn);
    const ids = [`a-${unique}`, `b-${unique}`];
    const [a, b] = (await Promise.all(ids.map((id) => start(t, fn, id)))) as [MicrovmInstance, MicrovmInstance];
    assert.notEqual(a.pid, b.pid);
    assert.notEqual(a.marker, b.marker);
    assert.equal((await pgrep(a.marker)).length, 1);
    assert.ok(exists(join(t.scratch, a.marker)), 'each VM has a scratch folder');

    const hello = await invoke(a);
    assert.equal(hello.status, 200);
    assert.equal(hello.body.toString(), 'Hello from a micro-VM!\n');
    assert.equal(hello.headers['content-type'], 'text/plain');

    const echo = await invoke(b, {
      method: 'POST',
      path: '/cgi-bin/echo',
      query: 'a=1&b=two',
      body: 'payload bytes',
      headers: { 'x-greeting': 'hi there' },
    });
    assert.equal(echo.status, 200);
    assert.equal(echo.headers['x-guest'], 'hello-vm');
    assert.equal(echo.body.toString(), 'method=POST\nquery=a=1&b=two\ngreeting=hi there\nbody=payload bytes\n');
    assert.equal((await invoke(a, { path: '/no/such/page' })).status, 404);
    assert.ok(
      t.logs.some((l) => l.instance === ids[0] && l.line.includes('init: serving on port 8080')),
      'the serial console reaches the function log',
    );

    // a: a graceful stop. b: dies on its own; the pool hears of it through onExit.
    await a.stop();
    assert.deepEqual(await pgrep(a.marker), []);
    const exited = new Promise<string>((r) => b.onExit(r));
    process.kill(b.pid, 'SIGKILL');
    assert.match(await exited, /VM exited \(signal SIGKILL\)/);
    await assert.rejects(invoke(b), (e: unknown) => isTernError(e) && e.code === 'function_crashed');
    await b.kill();
    assert.deepEqual(await pgrep(b.marker), []);
    await a.stop();
    assert.ok(!exists(join(t.scratch, a.marker)) && !exists(join(t.scratch, b.marker)), 'scratch folders removed');
    assert.deepEqual(await readdir(join(t.dataDir, 'microvm', 'run')), [], 'run records removed');
  });

  test('a VM that never calls back is killed at the deadline', async () => {
    const quick = await testRuntime({ accel, readyTimeoutMs: 3_000 });
    try {
      // The example's /init skips the callback when the command line names none.
      const fn = exampleFunction((s) => ({
        ...s,
        vm: { ...s.vm!, cmdline: s.vm!.cmdline.replace(/tern_callback=\S+/, '') },
      }));
      const id = `silent-${unique}`;
      await assert.rejects(
        quick.runtime.start(fn, { id, log: quick.log, scratchRoot: quick.scratch }),
        (e: unknown) => {
          assert.ok(isTernError(e));
          assert.equal(e.code, 'function_crashed');
          assert.match(e.message, /^VM did not call back within 3s/);
          return true;
        },
      );
      assert.deepEqual(await pgrep(`tern-vm-${id}-`), []);
      assert.deepEqual(await readdir(quick.scratch), []);
    } finally {
      await quick.dispose();
    }
  });
});

// Firecracker needs its own binary, an uncompressed guest kernel whose virtio-mmio devices come
// from the command line (Debian's cloud kernel has no CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES), and tap
// devices (root): it runs only where all three are given.
const firecracker = await findFirecracker();
const firecrackerKernel = process.env.TERN_TEST_FIRECRACKER_KERNEL;
const firecrackerSkip =
  skip ??
  (!firecracker
    ? 'firecracker is not installed (not on PATH, FIRECRACKER_EXE unset)'
    : !firecrackerKernel
      ? 'TERN_TEST_FIRECRACKER_KERNEL (a vmlinux for Firecracker) is not set'
      : undefined);
if (firecrackerSkip) console.log(`# microvm firecracker test skipped: ${firecrackerSkip}`);

test('the Firecracker backend boots the example initramfs and serves a call', { skip: firecrackerSkip }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tern-microvm-fc-'));
  const t = await testRuntime({ accel: 'tcg', tap: true });
  try {
    await copyFile(firecrackerKernel!, join(dir, 'vmlinux'));
    await copyFile(join(EXAMPLE, 'build/initramfs.cpio.gz'), join(dir, 'initramfs.cpio.gz'));
    const fn = exampleFunction(
      (s) => ({ ...s, vm: { ...s.vm!, kernel: 'vmlinux', image: 'initramfs.cpio.gz', hypervisor: 'firecracker' } }),
      dir,
    );
    await t.runtime.prepare(fn);
    const vm = await start(t, fn, `fc-${process.pid}`);
    assert.equal((await invoke(vm)).body.toString(), 'Hello from a micro-VM!\n');
    await vm.stop();
    assert.deepEqual(await pgrep(vm.marker), []);
  } finally {
    await t.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});
