import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { pino } from 'pino';
import { TernError } from '../../src/core/errors.js';
import { packFolder } from '../../src/registry/archive.js';
import { DirRegistry, loadRegistryFolder } from '../../src/registry/dir-store.js';
import type { DeployValidator, RegistryEvent } from '../../src/registry/registry.js';
import { LIMITS, PY_FILES, PY_TOML, rawTarGz, rawZip, tempDir, tree, writeFiles } from './fixtures.js';

const silent = pino({ enabled: false });

async function pack(files: Record<string, string | Buffer>): Promise<Buffer> {
  const dir = await tempDir('tern-pack-');
  try {
    await writeFiles(dir, files);
    return await packFolder(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function refused(code: string, message: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof TernError, `expected a TernError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  };
}

describe('DirRegistry', () => {
  let root: string;
  let reg: DirRegistry;
  let events: RegistryEvent[];

  const make = async (validate?: DeployValidator) => {
    const r = new DirRegistry({ root, limits: LIMITS, logger: silent, ...(validate ? { validate } : {}) });
    await r.open();
    return r;
  };

  beforeEach(async () => {
    root = join(await tempDir(), 'functions');
    reg = await make();
    events = [];
    reg.subscribe((e) => events.push(e));
  });
  afterEach(async () => {
    await reg.close();
    await rm(join(root, '..'), { recursive: true, force: true });
  });

  test('deploys a tar.gz: version folder, current pointer, list, get, event', async () => {
    const out = await reg.deploy('hello', await pack(PY_FILES), 'tar.gz');
    assert.equal(out.created, true);
    assert.equal(out.previous, undefined);
    const fn = out.fn;
    assert.match(fn.version, /^[0-9a-f]{16}$/);
    assert.equal(fn.dir, join(root, 'hello', 'versions', fn.version));
    assert.equal(fn.spec.name, 'hello');
    assert.equal(fn.spec.runtime, 'python');
    assert.equal(await readFile(join(fn.dir, 'main.py'), 'utf8'), PY_FILES['main.py']);
    const pointer = JSON.parse(await readFile(join(root, 'hello', 'current'), 'utf8')) as {
      version: string;
      deployedAt: string;
    };
    assert.deepEqual(pointer, { version: fn.version, deployedAt: fn.deployedAt });
    assert.equal(reg.get('hello'), fn);
    assert.deepEqual(reg.list(), [fn]);
    assert.deepEqual(events, [{ type: 'deployed', fn }]);
    assert.deepEqual(await readdir(join(root, '.tmp')), []);
  });

  test('deploys a zip, wrapped in a folder; same content as tar.gz is the same version', async () => {
    const zip = rawZip([
      { name: 'wrap/', mode: 0o040755 },
      { name: 'wrap/function.toml', data: PY_FILES['function.toml'] },
      { name: 'wrap/main.py', data: PY_FILES['main.py'] },
    ]);
    const fromZip = await reg.deploy('z', zip, 'zip');
    const fromTar = await reg.deploy('t', await pack(PY_FILES), 'tar.gz');
    assert.equal(fromZip.fn.version, fromTar.fn.version);
    assert.deepEqual(await readdir(fromZip.fn.dir).then((l) => l.sort()), ['function.toml', 'main.py']);
  });

  test('an identical redeploy keeps the version; an update keeps the old version until prune', async () => {
    const first = await reg.deploy('fn', await pack(PY_FILES), 'tar.gz');
    const again = await reg.deploy('fn', await pack(PY_FILES), 'tar.gz');
    assert.equal(again.created, false);
    assert.equal(again.fn.version, first.fn.version);
    assert.equal(again.previous, first.fn);

    const v2 = await reg.deploy(
      'fn',
      await pack({ ...PY_FILES, 'main.py': 'def handle(req):\n    return "v2"\n' }),
      'tar.gz',
    );
    assert.equal(v2.created, false);
    assert.notEqual(v2.fn.version, first.fn.version);
    assert.equal(v2.previous, first.fn);
    assert.deepEqual((await readdir(join(root, 'fn', 'versions'))).sort(), [first.fn.version, v2.fn.version].sort());
    await reg.prune('fn');
    assert.deepEqual(await readdir(join(root, 'fn', 'versions')), [v2.fn.version]);
    assert.equal(events.length, 3);
  });

  test('refusals: missing function.toml, bad function.toml naming the key, bad name', async () => {
    await assert.rejects(
      reg.deploy('fn', await pack({ 'main.py': 'x' }), 'tar.gz'),
      refused('bad_archive', /no function\.toml/),
    );
    await assert.rejects(
      reg.deploy('fn', await pack({ 'function.toml': 'runtime = "python"\nmemory = "lots"\n' }), 'tar.gz'),
      refused('bad_spec', /memory/),
    );
    await assert.rejects(reg.deploy('Bad_Name', await pack(PY_FILES), 'tar.gz'), refused('bad_request', /Bad_Name/));
    await assert.rejects(
      reg.deploy('fn', rawTarGz([{ path: '../x', data: 'x' }]), 'tar.gz'),
      refused('bad_archive', /\.\./),
    );
    assert.deepEqual(await tree(root), ['.tmp/']);
    assert.equal(reg.get('fn'), undefined);
    assert.deepEqual(events, []);
  });

  test('the name it is deployed as wins over function.toml, after a restart too', async () => {
    const files = { ...PY_FILES, 'function.toml': 'name = "in-the-file"\nruntime = "python"\n' };
    const out = await reg.deploy('chosen', await pack(files), 'tar.gz');
    assert.equal(out.fn.spec.name, 'chosen');
    assert.equal(reg.get('in-the-file'), undefined);
    await reg.close();
    reg = await make();
    assert.deepEqual(
      reg.list().map((f) => f.spec.name),
      ['chosen'],
    );
  });

  test('a failed update leaves the previous version serving and nothing new on disk', async () => {
    const good = await reg.deploy('fn', await pack(PY_FILES), 'tar.gz');
    const before = await tree(root);
    const failures: [Buffer, string][] = [
      [await pack({ 'function.toml': 'runtime = "python"\ntimeout = "soon"\n' }), 'bad_spec'],
      [
        rawTarGz([
          { path: 'function.toml', data: PY_TOML },
          { path: 'big', data: Buffer.alloc(LIMITS.unpackedBytes + 1) },
        ]),
        'bad_archive',
      ],
      [Buffer.from('not an archive'), 'bad_archive'],
    ];
    for (const [archive, code] of failures) {
      await assert.rejects(reg.deploy('fn', archive, 'tar.gz'), (e: unknown) => (e as TernError).code === code);
    }
    assert.deepEqual(await tree(root), before);
    assert.equal(reg.get('fn'), good.fn);
    assert.equal(events.length, 1);
  });

  test('the validator sees the unpacked folder and can refuse; refusal leaves no trace', async () => {
    await reg.close();
    const seen: string[] = [];
    reg = await make(async (spec, dir) => {
      seen.push(`${spec.name}:${(await readdir(dir)).sort().join(',')}`);
      if (spec.env['REFUSE'] === '1') throw new TernError('bad_spec', 'handler: refused by the runtime');
    });
    const good = await reg.deploy('fn', await pack(PY_FILES), 'tar.gz');
    const before = await tree(root);
    await assert.rejects(
      reg.deploy('fn', await pack({ ...PY_FILES, 'function.toml': `${PY_TOML}env = { REFUSE = "1" }\n` }), 'tar.gz'),
      refused('bad_spec', /refused by the runtime/),
    );
    await assert.rejects(
      reg.deploy('fresh', await pack({ ...PY_FILES, 'function.toml': `${PY_TOML}env = { REFUSE = "1" }\n` }), 'tar.gz'),
      refused('bad_spec', /refused/),
    );
    assert.deepEqual(await tree(root), before);
    assert.equal(reg.get('fn'), good.fn);
    assert.deepEqual(seen, ['fn:function.toml,main.py', 'fn:function.toml,main.py', 'fresh:function.toml,main.py']);
  });

  test('deploys of one name run one at a time, in call order', async () => {
    const archives = await Promise.all([1, 2, 3, 4].map((i) => pack({ ...PY_FILES, 'main.py': `# ${i}\n` })));
    const outcomes = await Promise.all(archives.map((a) => reg.deploy('fn', a, 'tar.gz')));
    assert.equal(outcomes[0]!.created, true);
    for (let i = 1; i < 4; i++) assert.equal(outcomes[i]!.previous, outcomes[i - 1]!.fn);
    assert.equal(await readFile(join(reg.get('fn')!.dir, 'main.py'), 'utf8'), '# 4\n');
  });

  test('a restart keeps functions, wipes .tmp, prunes old versions and skips broken ones', async () => {
    const a1 = await reg.deploy('a', await pack(PY_FILES), 'tar.gz');
    const a2 = await reg.deploy('a', await pack({ ...PY_FILES, 'main.py': '# 2\n' }), 'tar.gz');
    const b = await reg.deploy('b', await pack(PY_FILES), 'tar.gz');
    await reg.deploy('broken', await pack(PY_FILES), 'tar.gz');
    await reg.close();
    await writeFile(join(root, 'broken', 'current'), '{"version": "nope"');
    await mkdir(join(root, '.tmp', 'leftover'), { recursive: true });
    await writeFile(join(root, 'stray-file'), 'x');

    reg = await make();
    assert.deepEqual(
      reg.list().map((f) => [f.spec.name, f.version, f.deployedAt, f.dir]),
      [
        ['a', a2.fn.version, a2.fn.deployedAt, a2.fn.dir],
        ['b', b.fn.version, b.fn.deployedAt, b.fn.dir],
      ],
    );
    assert.deepEqual(await readdir(join(root, '.tmp')), []);
    await assert.rejects(stat(a1.fn.dir), /ENOENT/);
    assert.equal(reg.get('broken'), undefined);
    // The broken one can be fixed by deploying over it.
    const fixed = await reg.deploy('broken', await pack(PY_FILES), 'tar.gz');
    assert.equal(reg.get('broken'), fixed.fn);
  });

  test('remove takes the function away at once, and prune deletes its code once drained', async () => {
    const fn = (await reg.deploy('gone', await pack(PY_FILES), 'tar.gz')).fn;
    await reg.deploy('kept', await pack(PY_FILES), 'tar.gz');
    assert.equal(await reg.remove('gone'), fn);
    assert.equal(reg.get('gone'), undefined);
    await assert.rejects(stat(join(root, 'gone')), /ENOENT/);
    assert.deepEqual(events.at(-1), { type: 'removed', name: 'gone', previous: fn });
    assert.equal(await reg.remove('gone'), undefined);
    // Draining instances may still run from the code: it stays (out of sight) until prune.
    assert.equal((await readdir(join(root, '.tmp'))).length, 1);
    await reg.prune('gone');
    assert.deepEqual(await readdir(join(root, '.tmp')), []);
    await reg.close();
    reg = await make();
    assert.deepEqual(
      reg.list().map((f) => f.spec.name),
      ['kept'],
    );
  });

  test('deployFolder copies a folder, follows inner links, refuses outer links and limits', async () => {
    const src = await tempDir();
    await writeFiles(src, { ...PY_FILES, 'lib/helper.py': 'X = 1\n', '.git/HEAD': 'x' });
    await symlink('lib/helper.py', join(src, 'alias.py'));
    const out = await reg.deployFolder('copied', src);
    assert.equal(out.created, true);
    assert.deepEqual(
      (await tree(out.fn.dir)).map((l) => l.split(' ')[0]),
      ['alias.py', 'function.toml', 'lib/', 'lib/helper.py', 'main.py'],
    );
    const same = await reg.deploy('copied', await packFolder(src), 'tar.gz');
    assert.equal(same.fn.version, out.fn.version);

    const before = await tree(root);
    await symlink('/etc/hostname', join(src, 'host'));
    await assert.rejects(reg.deployFolder('copied', src), refused('bad_archive', /"host".*outside/));
    await rm(join(src, 'host'));
    await writeFile(join(src, 'big.bin'), Buffer.alloc(LIMITS.unpackedBytes + 1));
    await assert.rejects(reg.deployFolder('copied', src), refused('bad_archive', /"big\.bin".*unpacked size/));
    await rm(join(src, 'big.bin'));
    for (let i = 0; i < LIMITS.files; i++) await writeFile(join(src, `f${i}`), '');
    await assert.rejects(reg.deployFolder('copied', src), refused('bad_archive', /more than 100 files/));
    await assert.rejects(reg.deployFolder('copied', join(src, 'missing')), refused('bad_request', /not a folder/));
    assert.deepEqual(await tree(root), before);
    await rm(src, { recursive: true });
  });

  test('loadRegistryFolder deploys every function folder and reports the failures', async () => {
    const dir = await tempDir();
    await writeFiles(join(dir, 'alpha'), PY_FILES);
    await writeFiles(join(dir, 'folder-name'), { ...PY_FILES, 'function.toml': `name = "beta"\n${PY_TOML}` });
    await writeFiles(join(dir, 'broken'), { 'function.toml': 'runtime = "python"\nmemroy = 1\n' });
    await writeFiles(join(dir, 'not-a-function'), { 'README.md': 'x' });
    // UniFaaS style: no name, no runtime, a [vm] table.
    await writeFiles(join(dir, 'vm-fn'), {
      'function.toml': 'memory = 256\nkeepalive = 30\n[vm]\nkernel = "vmlinux"\nimage = "rootfs.img"\n',
    });
    const result = await loadRegistryFolder(reg, dir, silent);
    assert.deepEqual(result.loaded, ['alpha', 'beta', 'vm-fn']);
    assert.equal(result.failed.length, 1);
    assert.equal(result.failed[0]!.name, 'broken');
    assert.match(result.failed[0]!.error, /memroy/);
    assert.equal(reg.get('vm-fn')!.spec.runtime, 'microvm');
    // Loading again at the next start changes nothing.
    const again = await loadRegistryFolder(reg, dir, silent);
    assert.deepEqual(again.loaded, result.loaded);
    assert.deepEqual(
      events
        .filter((e) => e.type === 'deployed')
        .map((e) => (e.type === 'deployed' ? e.previous?.version === e.fn.version : false)),
      [false, false, false, true, true, true],
    );
    // A folder that is itself one function.
    const single = await loadRegistryFolder(reg, join(dir, 'alpha'), silent);
    assert.deepEqual(single.loaded, ['alpha']);
    await assert.rejects(loadRegistryFolder(reg, join(dir, 'nope'), silent), refused('bad_request', /not a folder/));
    await rm(dir, { recursive: true });
  });

  test('after close, changes are refused', async () => {
    await reg.close();
    await assert.rejects(reg.deploy('fn', await pack(PY_FILES), 'tar.gz'), refused('unavailable', /closed/));
  });
});
