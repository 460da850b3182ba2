/** The module rewrite that caps linear memory: hand-assembled modules and every real module we build. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { TernError } from '../../src/core/errors.js';
import { encodeName, leb } from '../../src/runtimes/wasm/binary.js';
import {
  capModuleMemory,
  GROW_REFUSED_EXPORT,
  HOST_MEMORY_MODULE,
  HOST_MEMORY_NAME,
} from '../../src/runtimes/wasm/memory-cap.js';
import { wasm, type WasmGlobal, type WasmMemory } from '../../src/runtimes/wasm/wasm-api.js';
import { buildModules, EXAMPLES, FIXTURE_BUILD } from './helpers.js';

type Bytes = number[];
const section = (id: number, content: Bytes): Bytes => [id, ...leb(content.length), ...content];
const vec = (items: Bytes[]): Bytes => [...leb(items.length), ...items.flat()];
const body = (code: Bytes): Bytes => [...leb(code.length + 1), 0x00, ...code];
const wasmModule = (...sections: Bytes[]) =>
  Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...sections.flat()]);
const exportEntry = (name: string, kind: number, index: number): Bytes => [...encodeName(name), kind, ...leb(index)];

const I32_TO_I32 = [0x60, 0x01, 0x7f, 0x01, 0x7f];
const VOID_TO_I32 = [0x60, 0x00, 0x01, 0x7f];
/** grow(n) = memory.grow(n) */
const GROW = body([0x20, 0x00, 0x40, 0x00, 0x0b]);
/** neg() = -64, whose LEB encoding is the byte 0x40, the memory.grow opcode: a byte scanner would be fooled */
const NEG = body([0x02, 0x40, 0x41, 0x40, 0x1a, 0x0b, 0x41, 0x40, 0x0b]);

function ownMemoryModule(limits: Bytes): Uint8Array {
  return wasmModule(
    section(1, vec([I32_TO_I32, VOID_TO_I32])),
    section(3, vec([[0], [1]])),
    section(5, vec([limits])),
    section(7, vec([exportEntry('grow', 0, 0), exportEntry('neg', 0, 1), exportEntry('memory', 2, 0)])),
    section(10, vec([GROW, NEG])),
  );
}

interface Exports {
  grow(n: number): number;
  neg(): number;
  memory: WasmMemory;
  [GROW_REFUSED_EXPORT]: WasmGlobal;
}

function instantiate(
  bytes: Uint8Array,
  memory: { module: string; name: string; initial: number; maximum: number },
): Exports {
  const mem = new wasm.Memory({ initial: memory.initial, maximum: memory.maximum });
  const instance = new wasm.Instance(new wasm.Module(bytes), { [memory.module]: { [memory.name]: mem } });
  return instance.exports as unknown as Exports;
}

describe('memory cap rewrite', () => {
  test('own memory becomes a capped import; refused growth sets the flag and traps', () => {
    const original = ownMemoryModule([0x00, 0x01]);
    assert.ok(wasm.validate(original));
    const capped = capModuleMemory(original, 1);
    assert.equal(capped.capPages, 16);
    assert.equal(capped.instrumented, true);
    assert.deepEqual(capped.memoryImport, {
      module: HOST_MEMORY_MODULE,
      name: HOST_MEMORY_NAME,
      limits: { initial: 1, shared: false },
    });
    const e = instantiate(capped.bytes, {
      module: HOST_MEMORY_MODULE,
      name: HOST_MEMORY_NAME,
      initial: 1,
      maximum: capped.capPages,
    });
    assert.equal(e.neg(), -64, 'instructions whose immediates look like memory.grow are left alone');
    assert.equal(e.grow(0), 1);
    assert.equal(e.grow(14), 1);
    assert.equal(e.grow(1), 15);
    assert.equal(e[GROW_REFUSED_EXPORT].value, 0);
    assert.throws(
      () => e.grow(1),
      (err: unknown) => err instanceof wasm.RuntimeError,
    );
    assert.equal(e[GROW_REFUSED_EXPORT].value, 1);
    assert.equal(e.memory.buffer.byteLength, 16 * 65536, 'the exported memory is the host one');
  });

  test('a declared maximum below the limit is the cap', () => {
    const capped = capModuleMemory(ownMemoryModule([0x01, 0x01, 0x04]), 128);
    assert.equal(capped.capPages, 4);
    const e = instantiate(capped.bytes, { module: HOST_MEMORY_MODULE, name: HOST_MEMORY_NAME, initial: 1, maximum: 4 });
    assert.equal(e.grow(3), 1);
    assert.throws(() => e.grow(1));
    assert.equal(e[GROW_REFUSED_EXPORT].value, 1);
  });

  test('an imported memory keeps its import; initial above the limit is refused', () => {
    const imported = wasmModule(
      section(1, vec([I32_TO_I32])),
      section(2, vec([[...encodeName('env'), ...encodeName('mem'), 0x02, 0x00, 0x20]])),
      section(3, vec([[0]])),
      section(7, vec([exportEntry('grow', 0, 0)])),
      section(10, vec([GROW])),
    );
    const capped = capModuleMemory(imported, 4);
    assert.deepEqual(capped.memoryImport, { module: 'env', name: 'mem', limits: { initial: 32, shared: false } });
    assert.equal(capped.capPages, 64);
    const e = instantiate(capped.bytes, { module: 'env', name: 'mem', initial: 32, maximum: 64 });
    assert.equal(e.grow(32), 32);
    assert.throws(() => e.grow(1));
    assert.throws(
      () => capModuleMemory(imported, 1),
      (err: unknown) => err instanceof TernError && err.code === 'bad_spec' && /starts with 2 MiB/.test(err.message),
    );
  });

  test('a module without memory is left as it is', () => {
    const noMemory = wasmModule(
      section(1, vec([VOID_TO_I32])),
      section(3, vec([[0]])),
      section(10, vec([body([0x41, 0x07, 0x0b])])),
    );
    const capped = capModuleMemory(noMemory, 1);
    assert.equal(capped.instrumented, false);
    assert.equal(capped.memoryImport, undefined);
    assert.deepEqual(capped.bytes, noMemory);
  });

  test('an instruction the walker does not know: still capped, not instrumented, and it says why', () => {
    const odd = wasmModule(
      section(1, vec([VOID_TO_I32])),
      section(3, vec([[0]])),
      section(5, vec([[0x00, 0x01]])),
      section(10, vec([body([0xfb, 0x01, 0x0b])])),
    );
    const capped = capModuleMemory(odd, 1);
    assert.equal(capped.instrumented, false);
    assert.match(capped.note ?? '', /unknown instruction/);
    assert.equal(capped.memoryImport?.module, HOST_MEMORY_MODULE);
  });

  test('64-bit memories are refused', () => {
    const mem64 = wasmModule(section(5, vec([[0x04, 0x01]])));
    assert.throws(
      () => capModuleMemory(mem64, 1),
      (err: unknown) => err instanceof TernError && /memory64/.test(err.message),
    );
  });

  describe('every module this repository builds', () => {
    before(() => buildModules());
    test('still compiles once capped and instrumented, with a host memory', () => {
      const files = [
        ...['hello/hello.wasm', 'echo/echo.wasm', 'sieve/sieve.wasm'].map((f) => join(EXAMPLES, f)),
        ...readdirSync(FIXTURE_BUILD)
          .filter((f) => f.endsWith('.wasm') && !['invalid.wasm', 'truncated.wasm'].includes(f))
          .map((f) => join(FIXTURE_BUILD, f)),
      ];
      assert.ok(files.length >= 10);
      for (const file of files) {
        const capped = capModuleMemory(readFileSync(file), 64);
        assert.equal(capped.instrumented, true, `${file}: ${capped.note}`);
        assert.ok(capped.memoryImport, file);
        const module = new wasm.Module(capped.bytes);
        assert.ok(
          wasm.Module.exports(module).some((x) => x.name === GROW_REFUSED_EXPORT),
          file,
        );
        const memories = wasm.Module.imports(module).filter((x) => x.kind === 'memory');
        assert.deepEqual(
          memories.map((m) => `${m.module}.${m.name}`),
          [`${capped.memoryImport.module}.${capped.memoryImport.name}`],
          file,
        );
      }
    });
  });
});
