/** Dependencies installed at deploy (prepare), offline, from what the function folder ships. */
import assert from 'node:assert/strict';
import { lstat, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isTernError } from '../../src/core/errors.js';
import { createNodeRuntime, createPythonRuntime } from '../../src/runtimes/process/index.js';
import type { Runtime } from '../../src/runtimes/runtime.js';
import { invoke, testBed, type TestBed } from './helpers.js';

describe('dependency installs at deploy', () => {
  let bed: TestBed;
  let python: Runtime;
  let node: Runtime;

  before(async () => {
    bed = await testBed();
    python = createPythonRuntime(bed.ctx);
    node = createNodeRuntime(bed.ctx);
  });

  after(async () => {
    await Promise.all([python.close(), node.close()]);
    await bed.cleanup();
  });

  test('python: requirements.txt with a local package is installed into .deps, owned by root', async () => {
    const fn = await bed.fn('py-deps');
    await python.prepare(fn);
    const deps = join(fn.dir, '.deps');
    assert.ok((await readdir(deps)).includes('greet'));
    const info = await stat(join(deps, 'greet', '__init__.py'));
    assert.equal(info.uid, 0, 'handed back to root after the sandboxed install');
    assert.equal(info.mode & 0o004, 0o004);
    // A second prepare (node restart) does not reinstall.
    const before = (await stat(join(deps, '.tern-installed'))).mtimeMs;
    await python.prepare(fn);
    assert.equal((await stat(join(deps, '.tern-installed'))).mtimeMs, before);
    const r = await invoke(await bed.start(python, fn), { method: 'POST', body: Buffer.from('tern') });
    assert.equal(r.body.toString(), 'greetings, tern (from a local package)');
  });

  test('python: an unsatisfiable requirement refuses the deploy and leaves no .deps', async () => {
    const fn = await bed.fn('py-deps');
    await writeFile(join(fn.dir, 'requirements.txt'), 'no-such-package-anywhere==1.0\n');
    await assert.rejects(
      python.prepare(fn),
      (e: unknown) => isTernError(e) && e.code === 'bad_spec' && /pip install failed/.test(e.message),
    );
    await assert.rejects(lstat(join(fn.dir, '.deps')), { code: 'ENOENT' });
  });

  test('node: package.json with a file: dependency is installed offline into node_modules, links resolved', async () => {
    const fn = await bed.fn('node-deps');
    await node.prepare(fn);
    assert.ok((await readdir(join(fn.dir, 'node_modules'))).includes('greet'));
    // npm links a file: dependency; the registry keeps regular files only, so the link is stored as its folder.
    const linked = await lstat(join(fn.dir, 'node_modules', 'greet'));
    assert.ok(linked.isDirectory() && !linked.isSymbolicLink());
    const r = await invoke(await bed.start(node, fn), { method: 'POST', body: Buffer.from('tern') });
    assert.equal(r.body.toString(), 'greetings, tern (from a local package)');
  });

  test('node: a dependency that is not in the folder refuses the deploy', async () => {
    const fn = await bed.fn('node-deps');
    await writeFile(
      join(fn.dir, 'package.json'),
      JSON.stringify({ type: 'module', dependencies: { 'left-pad': '^1.3.0' } }),
    );
    await assert.rejects(
      node.prepare(fn),
      (e: unknown) => isTernError(e) && e.code === 'bad_spec' && /npm install failed/.test(e.message),
    );
    await assert.rejects(lstat(join(fn.dir, 'node_modules')), { code: 'ENOENT' });
  });
});
