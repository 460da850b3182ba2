/**
 * `files = true`: a read-only preopen of the function's own folder at "/", and nothing outside it;
 * `files = false` (the default): no filesystem at all. A real C module does the reading.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Instance, Runtime } from '../../src/runtimes/runtime.js';
import { buildModules, deployed, FIXTURE_BUILD, invocation, never, newRuntime, startInstance } from './helpers.js';

describe('wasm runtime: files', () => {
  let runtime: Runtime;
  let root: string;
  let fnDir: string;
  let withFiles: Instance;
  let withoutFiles: Instance;

  const ask = async (instance: Instance, query: string) =>
    (await instance.call(invocation('files', { query }), never())).body.toString();

  before(async () => {
    buildModules();
    runtime = newRuntime({ workers: 1 });
    root = await mkdtemp(join(tmpdir(), 'tern-wasm-files-'));
    fnDir = join(root, 'fn');
    await mkdir(join(fnDir, 'sub'), { recursive: true });
    await copyFile(join(FIXTURE_BUILD, 'files.wasm'), join(fnDir, 'files.wasm'));
    await writeFile(join(fnDir, 'data.txt'), 'hello file\n');
    await writeFile(join(fnDir, 'sub', 'inner.txt'), 'inner\n');
    await writeFile(join(root, 'secret.txt'), 'outside secret\n');
    await symlink(join(root, 'secret.txt'), join(fnDir, 'escape.txt'));
    await symlink(root, join(fnDir, 'escape-dir'));
    await symlink('data.txt', join(fnDir, 'inside-link.txt'));
    const on = deployed(fnDir, { name: 'files', handler: 'files.wasm', files: true });
    const off = deployed(fnDir, { name: 'files', handler: 'files.wasm' });
    await runtime.prepare(on);
    withFiles = (await startInstance(runtime, on)).instance;
    withoutFiles = (await startInstance(runtime, off)).instance;
  });
  after(async () => {
    await runtime.close();
    await rm(root, { recursive: true, force: true });
  });

  test('files = false: no filesystem at all', async () => {
    assert.match(await ask(withoutFiles, 'data.txt'), /^ERR /);
    assert.match(await ask(withoutFiles, '/data.txt'), /^ERR /);
    assert.match(await ask(withoutFiles, 'ls:/'), /^ERR /);
  });

  test('files = true: reads its own files, relative or from "/"', async () => {
    assert.equal(await ask(withFiles, 'data.txt'), 'OK hello file\n');
    assert.equal(await ask(withFiles, '/data.txt'), 'OK hello file\n');
    assert.equal(await ask(withFiles, 'sub/inner.txt'), 'OK inner\n');
    assert.equal(await ask(withFiles, '/sub/../data.txt'), 'OK hello file\n');
    assert.equal(await ask(withFiles, 'inside-link.txt'), 'OK hello file\n');
  });

  test('files = true: lists its own folder', async () => {
    const top = (await ask(withFiles, 'ls:/')).trim().split(' ');
    assert.equal(top[0], 'OK');
    for (const name of ['data.txt', 'files.wasm', 'sub', 'escape.txt']) assert.ok(top.includes(name), top.join(' '));
    assert.equal(await ask(withFiles, 'ls:sub'), 'OK inner.txt\n');
  });

  test('files = true: nothing outside the folder, even through symlinks', async () => {
    for (const path of [
      '../secret.txt',
      '/../secret.txt',
      'sub/../../secret.txt',
      'escape.txt',
      'escape-dir/secret.txt',
    ]) {
      const answer = await ask(withFiles, path);
      assert.match(answer, /^ERR ENOTCAPABLE/, `${path}: ${answer}`);
      assert.doesNotMatch(answer, /outside secret/);
    }
    assert.match(await ask(withFiles, 'ls:escape-dir'), /^ERR /);
    assert.match(await ask(withFiles, 'missing.txt'), /^ERR ENOENT/);
  });

  test('files = true: read-only', async () => {
    assert.match(await ask(withFiles, 'write:new.txt'), /^ERR EROFS/);
    assert.match(await ask(withFiles, 'write:data.txt'), /^ERR EROFS/);
  });
});
