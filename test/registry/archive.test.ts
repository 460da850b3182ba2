import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, link, mkdir, readdir, readFile, rm, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { create as createTar } from 'tar';
import { TernError } from '../../src/core/errors.js';
import { detectArchiveType, extractArchive, packFolder } from '../../src/registry/archive.js';
import {
  hasZipCommand,
  LIMITS,
  PY_FILES,
  rawTarGz,
  rawZip,
  tempDir,
  tree,
  writeFiles,
  zipWithCommand,
} from './fixtures.js';

const run = promisify(execFile);
const ZIP_COMMAND = await hasZipCommand();

async function tarGzOf(cwd: string, paths: string[]): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of createTar({ gzip: true, cwd, portable: true }, paths)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function refused(code: string, message: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof TernError, `expected a TernError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  };
}

describe('archive extraction', () => {
  let work: string;
  let n = 0;
  const dest = () => join(work, `out-${++n}`);

  before(async () => {
    work = await tempDir();
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  /** Extraction must fail and leave nothing behind. */
  async function expectRefused(
    archive: Buffer,
    type: 'tar.gz' | 'zip',
    code: string,
    message: RegExp,
    limits = LIMITS,
  ): Promise<void> {
    const out = dest();
    await assert.rejects(extractArchive(archive, type, out, limits), refused(code, message));
    await assert.rejects(stat(out), /ENOENT/);
  }

  test('a tar.gz made by tar unpacks with modes kept', async () => {
    const src = await tempDir();
    await writeFiles(src, { ...PY_FILES, 'lib/util.py': 'X = 1\n', 'bin/run': '#!/bin/sh\necho hi\n' });
    await chmod(join(src, 'bin/run'), 0o755);
    const out = dest();
    await extractArchive(await tarGzOf(src, ['.']), 'tar.gz', out, LIMITS);
    assert.deepEqual(await tree(out), await tree(src));
    assert.equal((await stat(join(out, 'bin/run'))).mode & 0o111, 0o111);
    assert.equal((await stat(join(out, 'main.py'))).mode & 0o111, 0);
    await rm(src, { recursive: true });
  });

  test('a single wrapping folder (tar czf x.tgz myfn/) is unwrapped', async () => {
    const src = await tempDir();
    await writeFiles(join(src, 'myfn'), { ...PY_FILES, 'myfn/inner.txt': 'same name as the wrapper' });
    const out = dest();
    await extractArchive(await tarGzOf(src, ['myfn']), 'tar.gz', out, LIMITS);
    assert.deepEqual((await readdir(out)).sort(), ['function.toml', 'main.py', 'myfn']);
    assert.equal(await readFile(join(out, 'myfn/inner.txt'), 'utf8'), 'same name as the wrapper');
    await rm(src, { recursive: true });
  });

  test(
    'the system tar and zip commands produce archives we read',
    { skip: !ZIP_COMMAND && 'no zip command' },
    async () => {
      const src = await tempDir();
      await writeFiles(join(src, 'myfn'), { ...PY_FILES, 'data/a.json': '{}' });
      const tgz = join(src, 'fn.tgz');
      await run('tar', ['czf', tgz, 'myfn'], { cwd: src });
      const fromTar = dest();
      await extractArchive(await readFile(tgz), 'tar.gz', fromTar, LIMITS);
      const fromZip = dest();
      await extractArchive(await zipWithCommand(src, ['myfn']), 'zip', fromZip, LIMITS);
      const expected = await tree(join(src, 'myfn'));
      assert.deepEqual(await tree(fromTar), expected);
      assert.deepEqual(await tree(fromZip), expected);
      await rm(src, { recursive: true });
    },
  );

  test('a zip unpacks, exec bits kept, __MACOSX skipped', async () => {
    const zip = rawZip([
      { name: 'fn/', mode: 0o040755 },
      { name: 'fn/function.toml', data: PY_FILES['function.toml'] },
      { name: 'fn/run.sh', data: '#!/bin/sh\n', mode: 0o100755 },
      { name: '__MACOSX/fn/._run.sh', data: 'resource fork' },
    ]);
    const out = dest();
    await extractArchive(zip, 'zip', out, LIMITS);
    assert.deepEqual((await readdir(out)).sort(), ['function.toml', 'run.sh']);
    assert.equal((await stat(join(out, 'run.sh'))).mode & 0o100, 0o100);
  });

  test('tar: "../" escape is refused naming the entry', async () => {
    await expectRefused(
      rawTarGz([
        { path: 'function.toml', data: 'x' },
        { path: 'a/../../escape.txt', data: 'x' },
      ]),
      'tar.gz',
      'bad_archive',
      /"a\/\.\.\/\.\.\/escape\.txt".*"\.\."/,
    );
    await assert.rejects(stat(join(work, 'escape.txt')), /ENOENT/);
  });

  test('tar: an absolute path is refused', async () => {
    await expectRefused(
      rawTarGz([{ path: '/tmp/tern-evil', data: 'x' }]),
      'tar.gz',
      'bad_archive',
      /"\/tmp\/tern-evil".*absolute/,
    );
  });

  test('tar: symbolic and hard links are refused', async () => {
    await expectRefused(
      rawTarGz([
        { path: 'function.toml', data: 'x' },
        { path: 'passwd', type: 'SymbolicLink', linkpath: '/etc/passwd', size: 0 },
      ]),
      'tar.gz',
      'bad_archive',
      /"passwd".*symbolic link/,
    );
    await expectRefused(
      rawTarGz([
        { path: 'function.toml', data: 'x' },
        { path: 'copy', type: 'Link', linkpath: 'function.toml', size: 0 },
      ]),
      'tar.gz',
      'bad_archive',
      /"copy".*hard link/,
    );
  });

  test('tar: devices and FIFOs are refused', async () => {
    await expectRefused(
      rawTarGz([{ path: 'null', type: 'CharacterDevice', size: 0, devmaj: 1, devmin: 3 }]),
      'tar.gz',
      'bad_archive',
      /"null".*device/,
    );
    await expectRefused(rawTarGz([{ path: 'pipe', type: 'FIFO', size: 0 }]), 'tar.gz', 'bad_archive', /"pipe".*FIFO/);
  });

  test('tar: more entries than the limit are refused', async () => {
    const entries = Array.from({ length: 12 }, (_, i) => ({ path: `f${i}.txt`, data: 'x' }));
    await expectRefused(rawTarGz(entries), 'tar.gz', 'bad_archive', /"f10\.txt".*more than 10 files/, {
      ...LIMITS,
      files: 10,
    });
  });

  test('tar: a gzip bomb stops at the unpacked limit, counting real bytes', async () => {
    const bomb = rawTarGz([
      { path: 'function.toml', data: 'x' },
      { path: 'zeros.bin', data: Buffer.alloc(64 * 1024 * 1024) },
    ]);
    assert.ok(bomb.length < 256 * 1024, `bomb is ${bomb.length} bytes`);
    await expectRefused(bomb, 'tar.gz', 'bad_archive', /"zeros\.bin".*unpacked size over the limit of 1048576/, {
      ...LIMITS,
      unpackedBytes: 1024 * 1024,
    });
  });

  test('tar: over the archive byte limit is too_large', async () => {
    await expectRefused(rawTarGz([{ path: 'a', data: 'x' }]), 'tar.gz', 'too_large', /over the limit of 10 bytes/, {
      ...LIMITS,
      archiveBytes: 10,
    });
  });

  test('tar: corrupt and truncated gzip data are refused', async () => {
    const good = rawTarGz([
      { path: 'function.toml', data: 'x'.repeat(5000) },
      { path: 'b.txt', data: 'y'.repeat(5000) },
    ]);
    const corrupt = Buffer.from(good);
    for (let i = 20; i < corrupt.length - 8; i += 7) corrupt[i] = corrupt[i]! ^ 0x5a;
    await expectRefused(corrupt, 'tar.gz', 'bad_archive', /corrupt/);
    await expectRefused(good.subarray(0, Math.floor(good.length / 2)), 'tar.gz', 'bad_archive', /corrupt|truncated/i);
  });

  test('tar: a truncated tar inside valid gzip is refused', async () => {
    const tar = gunzipSync(rawTarGz([{ path: 'function.toml', data: 'x'.repeat(3000) }]));
    await expectRefused(gzipSync(tar.subarray(0, 1024)), 'tar.gz', 'bad_archive', /truncated/i);
  });

  test('tar: a bad header checksum is refused', async () => {
    const tar = gunzipSync(rawTarGz([{ path: 'function.toml', data: 'x' }]));
    tar[0] = 'g'.charCodeAt(0);
    await expectRefused(gzipSync(tar), 'tar.gz', 'bad_archive', /corrupt tar.*checksum/);
  });

  test('not an archive is refused for either type', async () => {
    await expectRefused(Buffer.from('just some text'), 'tar.gz', 'bad_archive', /not a gzip/);
    await expectRefused(Buffer.from('just some text'), 'zip', 'bad_archive', /not a zip/);
    await expectRefused(
      gzipSync('plain text, not a tar, long enough to fill a block? no.'),
      'tar.gz',
      'bad_archive',
      /corrupt tar|Unrecognized/,
    );
  });

  test('zip: "..", absolute paths, symlinks and devices are refused', async () => {
    await expectRefused(
      rawZip([{ name: '../evil.txt', data: 'x' }]),
      'zip',
      'bad_archive',
      /"\.\.\/evil\.txt".*"\.\."/,
    );
    await expectRefused(rawZip([{ name: 'a\\..\\..\\evil.txt', data: 'x' }]), 'zip', 'bad_archive', /"\.\."/);
    await expectRefused(rawZip([{ name: '/etc/evil', data: 'x' }]), 'zip', 'bad_archive', /absolute/);
    await expectRefused(
      rawZip([{ name: 'passwd', data: '/etc/passwd', mode: 0o120777 }]),
      'zip',
      'bad_archive',
      /"passwd".*symbolic link/,
    );
    await expectRefused(rawZip([{ name: 'fifo', mode: 0o010644 }]), 'zip', 'bad_archive', /"fifo".*FIFO/);
  });

  test('zip: symlinks made by the zip command are refused', { skip: !ZIP_COMMAND && 'no zip command' }, async () => {
    const src = await tempDir();
    await writeFiles(src, PY_FILES);
    await symlink('/etc/passwd', join(src, 'passwd'));
    await expectRefused(await zipWithCommand(src, ['.']), 'zip', 'bad_archive', /"passwd".*symbolic link/);
    await rm(src, { recursive: true });
  });

  test('zip: real bytes are counted even when the headers claim less', async () => {
    const liar = rawZip([{ name: 'zeros.bin', data: Buffer.alloc(8 * 1024 * 1024), claimedSize: 100 }]);
    await expectRefused(liar, 'zip', 'bad_archive', /"zeros\.bin".*(unpacked size over the limit|corrupt)/, {
      ...LIMITS,
      unpackedBytes: 1024 * 1024,
    });
    const bomb = rawZip([{ name: 'zeros.bin', data: Buffer.alloc(8 * 1024 * 1024) }]);
    await expectRefused(bomb, 'zip', 'bad_archive', /"zeros\.bin".*unpacked size over the limit/, {
      ...LIMITS,
      unpackedBytes: 1024 * 1024,
    });
  });

  test('zip: too many entries and corrupt data are refused', async () => {
    const many = rawZip(Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, data: 'x' })));
    await expectRefused(many, 'zip', 'bad_archive', /11 entries, more than the limit of 10/, { ...LIMITS, files: 10 });
    const good = rawZip([{ name: 'function.toml', data: 'x'.repeat(4000) }]);
    await expectRefused(good.subarray(0, good.length - 30), 'zip', 'bad_archive', /corrupt zip/);
    const flipped = Buffer.from(good);
    for (let i = 40; i < 60; i++) flipped[i] = flipped[i]! ^ 0xff;
    await expectRefused(flipped, 'zip', 'bad_archive', /corrupt/);
  });

  test('duplicate entries are refused', async () => {
    await expectRefused(
      rawTarGz([
        { path: 'a.txt', data: 'x' },
        { path: 'a.txt', data: 'y' },
      ]),
      'tar.gz',
      'bad_archive',
      /"a\.txt".*duplicate/,
    );
    await expectRefused(
      rawTarGz([
        { path: 'a', data: 'x' },
        { path: 'a/b', data: 'y' },
      ]),
      'tar.gz',
      'bad_archive',
      /"a\/b"/,
    );
  });

  test('a large file streams through with back-pressure', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE(i, i);
    const out = dest();
    await extractArchive(
      rawTarGz([
        { path: 'function.toml', data: 'x' },
        { path: 'big.bin', data: big },
        { path: 'after.txt', data: 'end' },
      ]),
      'tar.gz',
      out,
      LIMITS,
    );
    assert.ok((await readFile(join(out, 'big.bin'))).equals(big));
    assert.equal(await readFile(join(out, 'after.txt'), 'utf8'), 'end');
  });
});

describe('detectArchiveType', () => {
  const gz = gzipSync('x');
  const zip = rawZip([{ name: 'a', data: 'x' }]);
  test('by content type first', () => {
    assert.equal(detectArchiveType('application/gzip', zip), 'tar.gz');
    assert.equal(detectArchiveType('application/x-gzip', Buffer.alloc(0)), 'tar.gz');
    assert.equal(detectArchiveType('application/x-tar+gzip; charset=binary', Buffer.alloc(0)), 'tar.gz');
    assert.equal(detectArchiveType('Application/Zip', gz), 'zip');
  });
  test('else by magic bytes', () => {
    assert.equal(detectArchiveType('application/octet-stream', gz), 'tar.gz');
    assert.equal(detectArchiveType(undefined, zip), 'zip');
    assert.equal(detectArchiveType(undefined, Buffer.from('PK\x05\x06' + '\0'.repeat(18), 'latin1')), 'zip');
    assert.equal(detectArchiveType('text/plain', Buffer.from('just some text')), undefined);
    assert.equal(detectArchiveType(undefined, Buffer.alloc(0)), undefined);
  });
});

describe('packFolder', () => {
  test('packs the contents at the root, skipping .git and node_modules/.cache, following inner links', async () => {
    const src = await tempDir();
    await writeFiles(src, {
      ...PY_FILES,
      '.git/HEAD': 'ref',
      'node_modules/x/index.js': '1',
      'node_modules/.cache/big': 'cache',
      '@odd.txt': 'at',
    });
    await symlink('main.py', join(src, 'alias.py'));
    await mkdir(join(src, 'empty'));
    const out = join(await tempDir(), 'out');
    await extractArchive(await packFolder(src), 'tar.gz', out, LIMITS);
    const got = await tree(out);
    assert.deepEqual(
      got.map((l) => l.split(' ')[0]),
      [
        '@odd.txt',
        'alias.py',
        'empty/',
        'function.toml',
        'main.py',
        'node_modules/',
        'node_modules/x/',
        'node_modules/x/index.js',
      ],
    );
    assert.equal(await readFile(join(out, 'alias.py'), 'utf8'), PY_FILES['main.py']);
    await rm(src, { recursive: true });
    await rm(join(out, '..'), { recursive: true });
  });

  test('hard-linked files are stored as copies', async () => {
    const src = await tempDir();
    await writeFiles(src, PY_FILES);
    await link(join(src, 'main.py'), join(src, 'copy.py'));
    const out = join(await tempDir(), 'out');
    await extractArchive(await packFolder(src), 'tar.gz', out, LIMITS);
    assert.equal(await readFile(join(out, 'copy.py'), 'utf8'), PY_FILES['main.py']);
    await rm(src, { recursive: true });
    await rm(join(out, '..'), { recursive: true });
  });

  test('a link leaving the folder is refused', async () => {
    const src = await tempDir();
    await writeFiles(src, PY_FILES);
    await symlink('/etc/hostname', join(src, 'host'));
    await assert.rejects(packFolder(src), refused('bad_archive', /"host".*outside/));
    await rm(src, { recursive: true });
  });
});
