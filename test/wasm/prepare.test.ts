/**
 * prepare(): what a deploy of a wasm function is refused for (bad_spec, so a 400), with real files.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TernError } from '../../src/core/errors.js';
import type { Runtime } from '../../src/runtimes/runtime.js';
import { buildModules, deployed, FIXTURE_BUILD, newRuntime } from './helpers.js';

function badSpec(message: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof TernError, String(e));
    assert.equal(e.code, 'bad_spec', e.message);
    assert.equal(e.status, 400);
    assert.match(e.message, message);
    return true;
  };
}

describe('wasm runtime: prepare refuses what cannot run', () => {
  let runtime: Runtime;
  let tmp: string;
  before(async () => {
    buildModules();
    runtime = newRuntime({ workers: 1 });
    tmp = await mkdtemp(join(tmpdir(), 'tern-wasm-prepare-'));
  });
  after(async () => {
    await runtime.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const prepare = (handler: string, toml: Record<string, unknown> = {}, dir = FIXTURE_BUILD) =>
    runtime.prepare(deployed(dir, { name: 'f', handler, ...toml }));

  test('a missing handler file', async () => {
    await assert.rejects(prepare('nothing-here.wasm'), badSpec(/nothing-here\.wasm.*not found/));
  });

  test('a handler outside the function folder', async () => {
    await assert.rejects(prepare('../build.sh'), badSpec(/inside the function folder/));
    await assert.rejects(prepare('/etc/hostname'), badSpec(/inside the function folder/));
  });

  test('a folder as handler', async () => {
    await assert.rejects(prepare('.', {}, join(FIXTURE_BUILD, '..')), badSpec(/inside the function folder|not a file/));
  });

  test('a file that is not wasm', async () => {
    await assert.rejects(prepare('invalid.wasm'), badSpec(/not a WebAssembly module/));
  });

  test('wasm that breaks off', async () => {
    await assert.rejects(prepare('truncated.wasm'), badSpec(/not valid WebAssembly/));
  });

  test('a module without _start (a reactor)', async () => {
    await assert.rejects(prepare('reactor.wasm'), badSpec(/no _start/));
  });

  test('a module importing what Tern does not provide', async () => {
    await assert.rejects(prepare('host-import.wasm'), badSpec(/env\.host_thing/));
  });

  test('a module whose initial memory is above the limit', async () => {
    await assert.rejects(prepare('bigmem.wasm', { memory: 2 }), badSpec(/starts with 4 MiB.*limit of 2 MiB/));
    await prepare('bigmem.wasm', { memory: 8 });
  });

  test('a module with a version other than 1', async () => {
    await writeFile(join(tmp, 'v2.wasm'), Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00]));
    await assert.rejects(prepare('v2.wasm', {}, tmp), badSpec(/not valid WebAssembly|version/));
  });

  test('a symlinked handler leading out of the folder', async () => {
    await symlink(join(FIXTURE_BUILD, 'cgi.wasm'), join(tmp, 'link.wasm'));
    await assert.rejects(prepare('link.wasm', {}, tmp), badSpec(/inside the function folder/));
  });

  test('a refused module is not cached: fixing the file makes the same version deploy', async () => {
    const fn = deployed(tmp, { name: 'fixme', handler: 'fix.wasm' });
    await writeFile(join(tmp, 'fix.wasm'), 'not yet');
    await assert.rejects(runtime.prepare(fn), badSpec(/not a WebAssembly module/));
    await writeFile(join(tmp, 'fix.wasm'), Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
    await assert.rejects(runtime.prepare(fn), badSpec(/no _start/));
  });
});
