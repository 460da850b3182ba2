/**
 * Reading and unpacking images without running them: OCI layouts, oci-archive and docker-archive
 * files, whiteouts, links that try to leave the root folder, and images refused at deploy with
 * nothing left in the store.
 */
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ImageStore } from '../../src/runtimes/container/image-store.js';
import { busyboxLayer, dockerArchive, httpdConfig, ociArchive, tarOf, writeOciLayout } from '../helpers/oci-image.js';

const LIMITS = { blobBytes: 64 << 20, unpackedBytes: 256 << 20, files: 10_000, archiveBytes: 128 << 20 };

let work: string;
let store: ImageStore;

async function layout(name: string, layers: Buffer[], extra: Partial<Parameters<typeof writeOciLayout>[1]> = {}) {
  const dir = join(work, name);
  const built = await writeOciLayout(dir, { layers, config: httpdConfig(), ...extra });
  return { dir, built };
}

async function storeEntries(): Promise<string[]> {
  const rootfs = await readdir(join(store.dir, 'rootfs')).catch(() => [] as string[]);
  const scratch = await readdir(join(store.dir, 'work')).catch(() => [] as string[]);
  return [...rootfs, ...scratch];
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => undefined)) !== undefined;
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'tern-images-'));
  store = new ImageStore(join(work, 'store'), LIMITS);
  await store.open();
});

after(async () => {
  await store.close();
  await rm(work, { recursive: true, force: true });
});

describe('OCI image layout', () => {
  test('unpacks once into the store, with its run config, shared by holders', async () => {
    const { dir } = await layout('plain', [busyboxLayer()]);
    const a = await store.fromPath(dir, 'fn-a');
    const b = await store.fromPath(dir, 'fn-b');
    assert.equal(a.rootfs, b.rootfs);
    assert.deepEqual(a.run.entrypoint, ['/bin/busybox', 'httpd', '-f', '-p', '8080']);
    assert.equal(a.run.workingDir, '/www');
    assert.equal(await readlink(join(a.rootfs, 'bin/sh')), 'busybox');
    const mode = (await lstat(join(a.rootfs, 'www/cgi-bin/count'))).mode & 0o7777;
    assert.equal(mode, 0o755);
    for (const point of ['proc', 'dev', 'tmp']) assert.ok(await exists(join(a.rootfs, point)), point);
    await store.rootfs.release('fn-a');
    assert.ok(await exists(a.rootfs), 'still held by fn-b');
    await store.rootfs.release('fn-b');
    assert.equal(await exists(a.rootfs), false, 'removed once nothing holds it');
  });

  test('whiteouts delete what lower layers left; opaque folders keep only their own layer', async () => {
    const lower = tarOf([
      { path: 'etc/', type: 'dir' },
      { path: 'etc/secret', content: 'lower' },
      { path: 'data/', type: 'dir' },
      { path: 'data/old-1', content: '1' },
      { path: 'data/old-2', content: '2' },
    ]);
    const upper = tarOf([
      { path: 'etc/.wh.secret', content: '' },
      { path: 'data/new', content: 'n' },
      { path: 'data/.wh..wh..opq', content: '' },
    ]);
    const { dir } = await layout('whiteouts', [lower, upper]);
    const image = await store.fromPath(dir, 'wh');
    assert.equal(await exists(join(image.rootfs, 'etc/secret')), false);
    assert.equal(await exists(join(image.rootfs, 'etc/.wh.secret')), false);
    assert.deepEqual((await readdir(join(image.rootfs, 'data'))).sort(), ['new']);
    await store.rootfs.release('wh');
  });

  test('links cannot carry a later entry out of the root folder', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'tern-outside-'));
    try {
      const lower = tarOf([
        { path: 'up', type: 'symlink', target: '../../../../../../../..' + outside },
        { path: 'abs', type: 'symlink', target: outside },
      ]);
      const upper = tarOf([
        { path: 'up/evil-1', content: 'x' },
        { path: 'abs/evil-2', content: 'x' },
      ]);
      const { dir } = await layout('escape', [lower, upper]);
      const image = await store.fromPath(dir, 'esc');
      assert.deepEqual(await readdir(outside), [], 'nothing written outside');
      assert.equal(await readFile(join(image.rootfs, outside, 'evil-1'), 'utf8'), 'x');
      assert.equal(await readFile(join(image.rootfs, outside, 'evil-2'), 'utf8'), 'x');
      await store.rootfs.release('esc');
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  const refused: [string, Buffer, RegExp][] = [
    ['a ".." entry', tarOf([{ path: '../evil', content: 'x' }]), /"\.\." path segments are not allowed/],
    ['an absolute entry', tarOf([{ path: '/etc/evil', content: 'x' }]), /absolute paths are not allowed/],
    ['a device', tarOf([{ path: 'dev/sda', type: 'chardev' }]), /device and FIFO entries are not allowed/],
    [
      'a symlink loop',
      tarOf([
        { path: 'loop', type: 'symlink', target: '/loop' },
        { path: 'loop/x', content: 'x' },
      ]),
      /too many levels of symbolic links/,
    ],
    [
      'a hard link to nothing',
      tarOf([{ path: 'h', type: 'hardlink', target: 'missing' }]),
      /hard link "h" to a missing file/,
    ],
  ];
  for (const [what, tar, message] of refused) {
    test(`${what} is refused, leaving nothing in the store`, async () => {
      const { dir } = await layout(`bad-${what.replace(/\W+/g, '-')}`, [tar]);
      await assert.rejects(store.fromPath(dir, 'bad'), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'bad_archive');
        assert.match(e.message, message);
        return true;
      });
      assert.deepEqual(await storeEntries(), []);
    });
  }

  test('a tampered layer blob is refused by its digest, leaving nothing in the store', async () => {
    const { dir, built } = await layout('tampered', [busyboxLayer()], { gzip: false });
    const blob = join(dir, 'blobs/sha256', built.layerDigests[0]!.slice(7));
    const bytes = await readFile(blob);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 2000) ^ 0xff, bytes.length - 2000);
    await writeFile(blob, bytes);
    await assert.rejects(store.fromPath(dir, 'bad'), /layer 1 .*sha256 does not match its digest/);
    assert.deepEqual(await storeEntries(), []);
  });

  test('a corrupt layout (a config that is not its digest, a missing blob) is refused', async () => {
    const { dir, built } = await layout('corrupt-config', [busyboxLayer()]);
    await writeFile(
      join(dir, 'blobs/sha256', built.configDigest.slice(7)),
      '{"rootfs":{"type":"layers","diff_ids":[]}}',
    );
    await assert.rejects(store.fromPath(dir, 'bad'), /config: the blob has \d+ bytes|config: the blob's sha256/);
    const missing = await layout('missing-blob', [busyboxLayer()]);
    await rm(join(missing.dir, 'blobs/sha256', missing.built.layerDigests[0]!.slice(7)));
    await assert.rejects(store.fromPath(missing.dir, 'bad'), /layer 1 .*missing from the image/);
    await writeFile(join(missing.dir, 'index.json'), '{"schemaVersion": 2, "manifests": []}');
    await assert.rejects(store.fromPath(missing.dir, 'bad'), /index.json: manifests/);
    assert.deepEqual(await storeEntries(), []);
  });

  test('an image for another CPU is refused', async () => {
    const { dir } = await layout('arm', [busyboxLayer()], { architecture: 'riscv64' });
    await assert.rejects(store.fromPath(dir, 'bad'), /the image is for linux\/riscv64/);
  });
});

describe('archives and names', () => {
  test('an oci-archive imports under the name it carries', async () => {
    const file = join(work, 'fn.oci.tar');
    await writeFile(
      file,
      await ociArchive({ layers: [busyboxLayer()], config: httpdConfig(), refName: 'ghcr.io/me/fn:1.0' }),
    );
    const named = await store.importArchive(file, undefined);
    assert.equal(named.name, 'ghcr.io/me/fn:1.0');
    const image = await store.byName('ghcr.io/me/fn:1.0', 'fn-x');
    assert.ok(image && (await exists(join(image.rootfs, 'bin/busybox'))));
    assert.deepEqual(await readdir(join(store.dir, 'work')), [], 'the unpacked archive is gone');
    await store.rootfs.release('fn-x');
    assert.ok(await store.remove('ghcr.io/me/fn:1.0'));
    assert.equal(await exists(image.rootfs), false);
  });

  test('a docker-archive imports; a name is given when it carries none', async () => {
    const file = join(work, 'fn.docker.tar');
    await writeFile(file, dockerArchive({ layers: [busyboxLayer()], config: httpdConfig() }));
    await assert.rejects(store.importArchive(file, undefined), /the archive names no image/);
    const named = await store.importArchive(file, 'busybox-fn');
    assert.equal(named.name, 'busybox-fn:latest');
    assert.deepEqual(
      (await store.list()).map((n) => n.name),
      ['busybox-fn:latest'],
    );
    const reopened = new ImageStore(store.dir, LIMITS);
    assert.equal((await reopened.list())[0]?.configDigest, named.configDigest);
    await reopened.close();
    assert.ok(await store.remove('busybox-fn:latest'));
  });

  test('a docker-archive whose layer is not its diff id is refused', async () => {
    const file = join(work, 'bad.docker.tar');
    const good = dockerArchive({ layers: [busyboxLayer()], config: httpdConfig() });
    const tampered = Buffer.from(good);
    const at = tampered.indexOf('hello from a container');
    tampered.write('HELLO', at);
    await writeFile(file, tampered);
    await assert.rejects(store.importArchive(file, 'x'), /does not match its diff id/);
    assert.deepEqual(await storeEntries(), []);
  });
});
