/**
 * Deploy-time checks of what a wasm module costs or needs beyond what compiles:
 *  - WASI imports: every wasi_snapshot_preview1 function's signature is fixed by the spec; one
 *    imported with another signature links (the host functions are JavaScript) and then fails
 *    every call, so it is refused here naming the import, its signature and the spec's.
 *    Names the spec does not define stay allowed and answer ENOSYS (some toolchains add their own).
 *  - tables: each instance allocates its tables outside linear memory, so the memory cap does not
 *    see them (a 10M-element table costs ~280 MB and ~1 s of CPU per instantiation). Their largest
 *    size counts against the function's memory limit together with the initial linear memory.
 */
import { TernError } from '../../core/errors.js';
import type { FunctionSpec } from '../../registry/spec.js';
import { BinaryFormatError, Reader, readSections, SECTION } from './binary.js';
import {
  describeSignature,
  moduleImports,
  readTableType,
  type FunctionImport,
  type TableType,
} from './import-types.js';
import { WASI_MODULE } from './wasi.js';
import { wasiSignature } from './wasi-signatures.js';

/**
 * Host memory counted per table element. Measured on Node 20 (V8 11.3): 28 bytes per funcref
 * element (16 on the heap, the rest in the dispatch table), 8 per externref; one figure, rounded up.
 */
export const TABLE_ELEMENT_BYTES = 32;
/** V8's limit on a table's size: what a table declared without a maximum can grow to with table.grow. */
export const ENGINE_MAX_TABLE_ELEMENTS = 10_000_000;

const MIB = 1024 * 1024;
const WASM_PAGE_BYTES = 65536;
const REF_TYPE_NAMES: Record<number, string> = { 0x70: 'funcref', 0x6f: 'externref' };

interface CountedTable {
  label: string;
  type: TableType;
  /** The most elements it can hold. */
  elements: number;
}

function wasiMismatch(imp: FunctionImport): string | undefined {
  const want = wasiSignature(imp.name);
  if (!want) return undefined;
  if (imp.params.join() === want.params.join() && imp.results.join() === want.results.join()) return undefined;
  return `imports ${WASI_MODULE}.${imp.name} as ${describeSignature(imp.params, imp.results)}, but ${WASI_MODULE} defines it as ${describeSignature(want.params, want.results)}`;
}

function definedTables(bytes: Uint8Array): TableType[] {
  const section = readSections(bytes).find((s) => s.id === SECTION.table);
  if (!section) return [];
  const r = new Reader(bytes, section.start, section.end);
  return Array.from({ length: r.u32() }, () => readTableType(r));
}

function counted(label: string, type: TableType): CountedTable {
  return { label, type, elements: Math.min(type.maximum ?? ENGINE_MAX_TABLE_ELEMENTS, ENGINE_MAX_TABLE_ELEMENTS) };
}

function describeTable(t: CountedTable): string {
  const max =
    t.type.maximum === undefined
      ? `no maximum, so up to V8's limit of ${ENGINE_MAX_TABLE_ELEMENTS}`
      : `maximum ${t.type.maximum}`;
  const ref = REF_TYPE_NAMES[t.type.element] ?? `type 0x${t.type.element.toString(16)}`;
  return `${t.label} (${ref}): initial ${t.type.initial}, ${max}`;
}

const mib = (bytes: number) => `${Math.round((bytes / MIB) * 10) / 10} MiB`;

/** The module's tables at their largest, with its initial linear memory, must fit in the function's memory. */
function tableOverrun(tables: CountedTable[], initialMemoryBytes: number, limitMiB: number): string | undefined {
  const elements = tables.reduce((n, t) => n + t.elements, 0);
  const tableBytes = elements * TABLE_ELEMENT_BYTES;
  if (tableBytes + initialMemoryBytes <= limitMiB * MIB) return undefined;
  return (
    `its tables can hold ${elements} elements (${tables.map(describeTable).join('; ')}), ` +
    `counted at ${TABLE_ELEMENT_BYTES} bytes each of host memory: ${mib(tableBytes)}, which with its initial ` +
    `memory (${mib(initialMemoryBytes)}) is more than the function's memory limit of ${limitMiB} MiB ` +
    `(declare a smaller table maximum, or raise memory)`
  );
}

/**
 * Refuse (TernError 'bad_spec', so a deploy answers 400) a module with a mistyped WASI import or
 * tables that do not fit in `spec.memory` beside `initialMemoryPages` of linear memory.
 */
export function checkModuleCosts(spec: FunctionSpec, bytes: Uint8Array, initialMemoryPages: number): void {
  const refuse = (why: string) => new TernError('bad_spec', `handler "${spec.handler}"${why}`);
  let imports: ReturnType<typeof moduleImports>;
  let tables: CountedTable[];
  try {
    imports = moduleImports(bytes);
    tables = [
      ...imports.tables.map((t) => counted(`imported table ${t.module}.${t.name}`, t.type)),
      ...definedTables(bytes).map((t, i) => counted(`table ${imports.tables.length + i}`, t)),
    ];
  } catch (e) {
    if (!(e instanceof BinaryFormatError)) throw e;
    throw refuse(`: cannot read its imports and tables: ${e.message}`);
  }
  for (const imp of imports.functions) {
    const mismatch = imp.module === WASI_MODULE ? wasiMismatch(imp) : undefined;
    if (mismatch !== undefined) throw refuse(` ${mismatch}`);
  }
  const overrun = tableOverrun(tables, initialMemoryPages * WASM_PAGE_BYTES, spec.memory);
  if (overrun !== undefined) throw refuse(`: ${overrun}`);
}
