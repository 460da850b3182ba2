/**
 * Modules that cost more than they show (issue 25, item 5), refused at deploy (bad_spec, so a 400):
 * a WASI import with another signature than the spec's, and tables (defined or imported) whose
 * largest size does not fit in the function's memory limit. Hand-assembled modules, real prepare().
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TernError } from '../../src/core/errors.js';
import type { Runtime } from '../../src/runtimes/runtime.js';
import { ENGINE_MAX_TABLE_ELEMENTS, TABLE_ELEMENT_BYTES } from '../../src/runtimes/wasm/module-checks.js';
import {
  command,
  FUNCREF,
  funcType,
  I32,
  I64,
  importFunction,
  importTable,
  limits,
  TEN_MILLION_TABLE,
  WASI,
  WRONG_FD_WRITE,
} from './hand-modules.js';
import { deployed, newRuntime } from './helpers.js';

function badSpec(...messages: RegExp[]) {
  return (e: unknown) => {
    assert.ok(e instanceof TernError, String(e));
    assert.equal(e.code, 'bad_spec', e.message);
    assert.equal(e.status, 400);
    for (const m of messages) assert.match(e.message, m);
    return true;
  };
}

describe('wasm runtime: modules that cost more than they show', () => {
  let runtime: Runtime;
  let tmp: string;
  let n = 0;
  before(async () => {
    runtime = newRuntime({ workers: 1 });
    tmp = await mkdtemp(join(tmpdir(), 'tern-wasm-checks-'));
  });
  after(async () => {
    await runtime.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const prepare = async (bytes: Buffer, toml: Record<string, unknown> = {}) => {
    const handler = `m${++n}.wasm`;
    await writeFile(join(tmp, handler), bytes);
    await runtime.prepare(deployed(tmp, { name: 'f', handler, ...toml }));
  };

  test('a WASI import with a wrong signature, named with its signature and the spec one', async () => {
    await assert.rejects(
      prepare(WRONG_FD_WRITE),
      badSpec(
        /wasi_snapshot_preview1\.fd_write/,
        /as \(i32\) -> \(i32\)/,
        /defines it as \(i32, i32, i32, i32\) -> \(i32\)/,
      ),
    );
    const clock = command({
      types: [funcType([I32, I32, I32], [I32])],
      imports: [importFunction(WASI, 'clock_time_get', 1)],
    });
    await assert.rejects(
      prepare(clock),
      badSpec(/clock_time_get as \(i32, i32, i32\) -> \(i32\).*\(i32, i64, i32\) -> \(i32\)/),
    );
    const exitWithResult = command({
      types: [funcType([I32], [I32])],
      imports: [importFunction(WASI, 'proc_exit', 1)],
    });
    await assert.rejects(
      prepare(exitWithResult),
      badSpec(/proc_exit as \(i32\) -> \(i32\).*defines it as \(i32\) -> \(\)/),
    );
  });

  test('WASI imports with the spec signatures deploy; a name the spec lacks still deploys (ENOSYS)', async () => {
    await prepare(
      command({
        types: [funcType([I32, I32, I32, I32], [I32]), funcType([I32, I64, I32], [I32]), funcType([I32], [])],
        imports: [
          importFunction(WASI, 'fd_write', 1),
          importFunction(WASI, 'clock_time_get', 2),
          importFunction(WASI, 'proc_exit', 3),
          importFunction(WASI, 'sock_open', 1),
        ],
      }),
    );
  });

  test('a 10M-element table is refused at the default memory limit', async () => {
    const big = TEN_MILLION_TABLE;
    assert.ok(big.length < 64, `${big.length} bytes`);
    await assert.rejects(
      prepare(big),
      badSpec(/table 0 \(funcref\): initial 10000000, maximum 10000000/, /32 bytes each/, /memory limit of 128 MiB/),
    );
  });

  test("a table without a maximum counts at V8's limit; given the memory, it deploys", async () => {
    const growable = command({ tables: [[FUNCREF, ...limits(1)]] });
    await assert.rejects(prepare(growable), badSpec(/no maximum, so up to V8's limit of 10000000/));
    await prepare(growable, { memory: Math.ceil((ENGINE_MAX_TABLE_ELEMENTS * TABLE_ELEMENT_BYTES) / 1048576) });
  });

  test('the boundary: tables that exactly fill the memory limit deploy, one element more does not', async () => {
    const fits = (1024 * 1024) / TABLE_ELEMENT_BYTES;
    await prepare(
      command({
        tables: [
          [FUNCREF, ...limits(1, fits - 1)],
          [FUNCREF, ...limits(0, 1)],
        ],
      }),
      { memory: 1 },
    );
    await assert.rejects(
      prepare(
        command({
          tables: [
            [FUNCREF, ...limits(1, fits)],
            [FUNCREF, ...limits(0, 1)],
          ],
        }),
        { memory: 1 },
      ),
      badSpec(/tables can hold 32769 elements/, /table 1 \(funcref\): initial 0, maximum 1/),
    );
  });

  test('an imported table counts too', async () => {
    const imported = command({
      imports: [importTable('env', 'tbl', [FUNCREF, ...limits(0, 10_000_000)])],
      importedFunctions: 0,
    });
    await assert.rejects(prepare(imported), badSpec(/imported table env\.tbl \(funcref\)/, /memory limit of 128 MiB/));
  });
});
