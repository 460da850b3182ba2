/** The micro-VM runtime's parts that need no VM: image kinds, cmdline, QEMU argv, checks, callback, leftovers. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { isTernError } from '../../src/core/errors.js';
import { CallbackServer } from '../../src/runtimes/microvm/callback-server.js';
import { checkCmdline, substituteCmdline } from '../../src/runtimes/microvm/cmdline.js';
import { writeCpio } from '../../src/runtimes/microvm/cpio.js';
import { classifyImage } from '../../src/runtimes/microvm/image-kind.js';
import { LineSplitter, MAX_LINE_BYTES } from '../../src/core/lines.js';
import { qemuArgs } from '../../src/runtimes/microvm/qemu-args.js';
import { RunRecords } from '../../src/runtimes/microvm/run-records.js';
import { tinyInitElf } from '../../src/runtimes/microvm/tiny-init.js';
import { exampleFunction, pgrep, testRuntime, type TestRuntime } from './helpers.js';

function badSpec(pattern: RegExp) {
  return (e: unknown) => isTernError(e) && e.code === 'bad_spec' && pattern.test(e.message);
}

describe('image kinds', () => {
  const cpio = writeCpio([{ kind: 'file', path: 'init', data: Buffer.from('#!/bin/sh\n') }]);

  test('a cpio archive, raw or gzip-compressed, is an initramfs', () => {
    assert.deepEqual(classifyImage(cpio, 'x'), { kind: 'initramfs' });
    assert.deepEqual(classifyImage(gzipSync(cpio).subarray(0, 40), 'x'), { kind: 'initramfs' });
  });

  test('qcow2 and anything else are disks; gzip that is not cpio is refused', () => {
    assert.deepEqual(classifyImage(Buffer.from([0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3]), 'x'), {
      kind: 'disk',
      format: 'qcow2',
    });
    const ext4 = Buffer.alloc(2048);
    ext4.writeUInt16LE(0xef53, 1080);
    assert.deepEqual(classifyImage(ext4, 'x'), { kind: 'disk', format: 'raw' });
    assert.throws(
      () => classifyImage(gzipSync(Buffer.from('not a cpio archive at all')), 'x'),
      badSpec(/not a cpio archive/),
    );
  });
});

describe('kernel command line', () => {
  test('placeholders are replaced, other % signs stay', () => {
    const net = {
      ip: '10.0.2.15',
      gateway: '10.0.2.2',
      netmask: '255.255.255.0',
      callback: 'http://10.0.2.100/ready/a/b',
    };
    assert.equal(
      substituteCmdline('ip=%ip gw=%gateway mask=%netmask cb=%callback 100% %ipx', net),
      'ip=10.0.2.15 gw=10.0.2.2 mask=255.255.255.0 cb=http://10.0.2.100/ready/a/b 100% %ipx',
    );
  });

  test('newlines and over-long lines are refused', () => {
    assert.throws(() => checkCmdline('a\nb'), badSpec(/control characters/));
    assert.throws(() => checkCmdline('x'.repeat(3000)), badSpec(/more than the kernel's/));
    checkCmdline('console=ttyS0 quiet');
  });
});

describe('QEMU command line', () => {
  const base = {
    marker: 'tern-vm-a-1',
    kernel: '/k',
    image: '/i',
    imageWritable: false,
    memoryMiB: 128,
    cpus: 2,
    cmdline: 'console=ttyS0',
  } as const;

  test('tcg counts instructions, kvm uses the host CPU; an initramfs goes to -initrd', () => {
    const tcg = qemuArgs({ ...base, accel: 'tcg', imageKind: { kind: 'initramfs' } });
    assert.ok(tcg.includes('microvm,accel=tcg') && tcg.includes('-icount') && !tcg.includes('host'));
    assert.equal(tcg[tcg.indexOf('-initrd') + 1], '/i');
    assert.equal(tcg[tcg.indexOf('-smp') + 1], '2');
    assert.ok(tcg.includes('-no-reboot') && !tcg.includes('-daemonize'));
    const kvm = qemuArgs({ ...base, accel: 'kvm', imageKind: { kind: 'initramfs' } });
    assert.equal(kvm[kvm.indexOf('-cpu') + 1], 'host');
  });

  test('a disk is a virtio-blk drive, snapshot=on unless it is a private copy', () => {
    const shared = qemuArgs({ ...base, accel: 'tcg', imageKind: { kind: 'disk', format: 'raw' } }).join(' ');
    assert.match(shared, /-drive id=root,if=none,file=\/i,format=raw,snapshot=on -device virtio-blk-device,drive=root/);
    const own = qemuArgs({
      ...base,
      accel: 'tcg',
      imageKind: { kind: 'disk', format: 'qcow2' },
      imageWritable: true,
    }).join(' ');
    assert.match(own, /format=qcow2 /);
    assert.doesNotMatch(own, /snapshot/);
  });

  test('user-mode network: loopback forward in, callback forward out, restricted', () => {
    const args = qemuArgs({
      ...base,
      accel: 'tcg',
      imageKind: { kind: 'initramfs' },
      network: {
        mode: 'user',
        hostPort: 40000,
        guestPort: 8080,
        callbackHostPort: 40001,
        callbackGuestIp: '10.0.2.100',
        callbackGuestPort: 80,
        restrict: true,
      },
    });
    assert.equal(
      args[args.indexOf('-netdev') + 1],
      'user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40000-:8080,guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:40001',
    );
  });
});

test('the probe /init is an x86-64 ELF executable carrying its marker', () => {
  const elf = tinyInitElf('TERN-MARK\n');
  assert.deepEqual([...elf.subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
  assert.equal(elf.readUInt16LE(18), 0x3e);
  assert.ok(elf.includes('TERN-MARK\n'));
});

test('console lines are split and bounded', () => {
  const lines: string[] = [];
  const s = new LineSplitter((l) => lines.push(l));
  s.push(Buffer.from('one\r\ntw'));
  s.push(Buffer.from('o\n'));
  s.push(Buffer.from('x'.repeat(20_000)));
  s.end();
  assert.deepEqual(lines.slice(0, 2), ['one', 'two']);
  assert.ok(lines.slice(2).every((l) => l.length <= MAX_LINE_BYTES));
  assert.equal(lines.slice(2).join('').length, 20_000);
});

describe('callback listener', () => {
  const server = new CallbackServer();
  after(() => server.close());

  test('only the right instance and token mark a VM ready', async () => {
    const port = await server.loopbackPort();
    let ready = 0;
    const path = server.expect('fn-1', 'abc123', () => ready++);
    assert.equal((await fetch(`http://127.0.0.1:${port}/ready/fn-1/ffff`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${port}/ready/fn-2/abc123`)).status, 404);
    assert.equal(ready, 0);
    assert.equal((await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', body: 'x' })).status, 200);
    assert.equal(ready, 1);
    assert.equal((await fetch(`http://127.0.0.1:${port}${path}`)).status, 404, 'a callback counts once');
  });
});

describe('prepare', () => {
  let t: TestRuntime;
  let dir: string;
  before(async () => {
    t = await testRuntime({ accel: 'tcg' });
    dir = await mkdtemp(join(tmpdir(), 'tern-microvm-fn-'));
    await writeFile(join(dir, 'vmlinuz'), 'not really a kernel');
    await writeFile(join(dir, 'initramfs.cpio'), writeCpio([{ kind: 'dir', path: 'dev' }]));
    await writeFile(join(dir, 'bad.gz'), gzipSync(Buffer.from('plain text, not cpio')));
    await symlink('/etc/hostname', join(dir, 'escape'));
  });
  after(async () => {
    await t.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  let versions = 0;
  // Each variant is its own version: the runtime caches checked files per version.
  const fn = (vm: { kernel?: string; image?: string; cmdline?: string; hypervisor?: 'qemu' | 'firecracker' }) => ({
    ...exampleFunction(
      (s) => ({ ...s, vm: { ...s.vm!, kernel: 'vmlinuz', image: 'initramfs.cpio', cmdline: 'console=ttyS0', ...vm } }),
      dir,
    ),
    version: `v${++versions}`,
  });

  test('a folder with a kernel and an initramfs passes', async () => {
    await t.runtime.prepare(fn({}));
  });

  test('missing files, paths out of the folder and bad images are refused, naming the key', async () => {
    await assert.rejects(t.runtime.prepare(fn({ kernel: 'nope' })), badSpec(/vm\.kernel: "nope" does not exist/));
    await assert.rejects(t.runtime.prepare(fn({ image: '../x' })), badSpec(/vm\.image: .* inside the function folder/));
    await assert.rejects(
      t.runtime.prepare(fn({ kernel: '/boot/vmlinuz' })),
      badSpec(/vm\.kernel: .* inside the function folder/),
    );
    await assert.rejects(t.runtime.prepare(fn({ image: 'escape' })), badSpec(/points outside the function folder/));
    await assert.rejects(t.runtime.prepare(fn({ image: 'bad.gz' })), badSpec(/not a cpio archive/));
    await assert.rejects(t.runtime.prepare(fn({ cmdline: 'x'.repeat(2100) })), badSpec(/vm\.cmdline/));
  });

  test('firecracker is refused where it is not installed or has no tap network', async (ctx) => {
    if (process.env.FIRECRACKER_EXE) {
      ctx.skip('FIRECRACKER_EXE is set: this test checks the refusal where Firecracker is absent');
      return;
    }
    await assert.rejects(
      t.runtime.prepare(fn({ hypervisor: 'firecracker' })),
      badSpec(/firecracker (is not installed|needs tap)/),
    );
  });
});

test('VMs left by a node that died are killed and their records removed at the next start', async () => {
  const t = await testRuntime({ accel: 'tcg' });
  const marker = `tern-vm-leftover-${process.pid}-${Date.now()}`;
  // A stand-in for an orphaned hypervisor: any process whose command line carries the marker.
  const orphan = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)', marker], { stdio: 'ignore' });
  const gone = new Promise((r) => orphan.once('exit', r));
  try {
    const records = new RunRecords(join(t.dataDir, 'microvm', 'run'));
    await records.write({ pid: orphan.pid!, marker });
    await records.write({ pid: 999_999_999, marker: 'tern-vm-reused-pid' });
    await mkdir(records.dir, { recursive: true });
    await t.runtime.probe();
    await gone;
    assert.deepEqual(await pgrep(marker), []);
    assert.deepEqual(await readdir(records.dir), []);
  } finally {
    orphan.kill('SIGKILL');
    await t.dispose();
  }
});
