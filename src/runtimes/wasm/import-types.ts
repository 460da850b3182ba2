/**
 * The signatures of a module's function imports and the types of its table imports, read from its
 * type and import sections (the JS API names imports but not their types): so a wrong `tern` or
 * WASI signature is refused at deploy with a clear message instead of failing every call, and
 * imported tables count against the memory limit (module-checks.ts).
 */
import { BinaryFormatError, Reader, readSections, SECTION, type RawSection } from './binary.js';

export interface FunctionImport {
  module: string;
  name: string;
  /** Value types as bytes: 0x7f i32, 0x7e i64, 0x7d f32, 0x7c f64, … */
  params: number[];
  results: number[];
}

const TYPE_NAMES: Record<number, string> = {
  0x7f: 'i32',
  0x7e: 'i64',
  0x7d: 'f32',
  0x7c: 'f64',
  0x7b: 'v128',
  0x70: 'funcref',
  0x6f: 'externref',
};

export function describeSignature(params: number[], results: number[]): string {
  const names = (ts: number[]) => ts.map((t) => TYPE_NAMES[t] ?? `0x${t.toString(16)}`).join(', ');
  return `(${names(params)}) -> (${names(results)})`;
}

function skipLimits(r: Reader): void {
  const flags = r.byte();
  r.u32();
  if (flags & 0x01) r.u32();
}

/** A table's element type and size limits (in elements). */
export interface TableType {
  /** 0x70 funcref, 0x6f externref. */
  element: number;
  initial: number;
  maximum?: number;
}

export interface TableImport {
  module: string;
  name: string;
  type: TableType;
}

/** A table type as the table and import sections hold it: reference type, then 32-bit limits. */
export function readTableType(r: Reader): TableType {
  const element = r.byte();
  const flags = r.byte();
  if (flags > 0x01) throw new BinaryFormatError(`unsupported table limits flags 0x${flags.toString(16)}`);
  const initial = r.u32();
  return { element, initial, ...(flags & 0x01 ? { maximum: r.u32() } : {}) };
}

export interface ModuleImports {
  functions: FunctionImport[];
  tables: TableImport[];
}

function readTypes(bytes: Uint8Array, sections: RawSection[]): { params: number[]; results: number[] }[] {
  const types: { params: number[]; results: number[] }[] = [];
  const typeSection = sections.find((s) => s.id === SECTION.type);
  if (!typeSection) return types;
  const r = new Reader(bytes, typeSection.start, typeSection.end);
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const form = r.byte();
    if (form !== 0x60) throw new BinaryFormatError(`type ${i} is not a function type (0x${form.toString(16)})`);
    const params = Array.from({ length: r.u32() }, () => r.byte());
    const results = Array.from({ length: r.u32() }, () => r.byte());
    types.push({ params, results });
  }
  return types;
}

/** The function imports (with their signatures) and table imports (with their types) of a module. */
export function moduleImports(bytes: Uint8Array): ModuleImports {
  const sections = readSections(bytes);
  const types = readTypes(bytes, sections);
  const out: ModuleImports = { functions: [], tables: [] };
  const importSection = sections.find((s) => s.id === SECTION.import);
  if (!importSection) return out;
  const r = new Reader(bytes, importSection.start, importSection.end);
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const module = r.name();
    const name = r.name();
    const kind = r.byte();
    if (kind === 0x00) {
      const t = types[r.u32()];
      if (!t) throw new BinaryFormatError(`import ${module}.${name} names a missing type`);
      out.functions.push({ module, name, params: t.params, results: t.results });
    } else if (kind === 0x01) out.tables.push({ module, name, type: readTableType(r) });
    else if (kind === 0x02) skipLimits(r);
    else if (kind === 0x03) {
      r.byte();
      r.byte();
    } else if (kind === 0x04) {
      r.byte();
      r.u32();
    } else throw new BinaryFormatError(`unknown import kind ${kind}`);
  }
  return out;
}

export function functionImports(bytes: Uint8Array): FunctionImport[] {
  return moduleImports(bytes).functions;
}
