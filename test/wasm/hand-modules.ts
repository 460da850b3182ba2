/** Tiny hand-assembled wasm modules for tests: section framing, types, imports, tables, a WASI command. */
import { encodeName, leb } from '../../src/runtimes/wasm/binary.js';

export type Bytes = number[];
export const I32 = 0x7f;
export const I64 = 0x7e;
export const FUNCREF = 0x70;
export const WASI = 'wasi_snapshot_preview1';

export const section = (id: number, content: Bytes): Bytes => [id, ...leb(content.length), ...content];
export const vec = (items: Bytes[]): Bytes => [...leb(items.length), ...items.flat()];
export const wasmModule = (...sections: Bytes[]): Buffer =>
  Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...sections.flat()]);
export const funcType = (params: number[], results: number[]): Bytes => [
  0x60,
  ...vec(params.map((p) => [p])),
  ...vec(results.map((r) => [r])),
];
export const importFunction = (module: string, name: string, type: number): Bytes => [
  ...encodeName(module),
  ...encodeName(name),
  0x00,
  ...leb(type),
];
export const importTable = (module: string, name: string, table: Bytes): Bytes => [
  ...encodeName(module),
  ...encodeName(name),
  0x01,
  ...table,
];
export const limits = (initial: number, maximum?: number): Bytes =>
  maximum === undefined ? [0x00, ...leb(initial)] : [0x01, ...leb(initial), ...leb(maximum)];
const EMPTY_BODY: Bytes = [0x02, 0x00, 0x0b];

export interface CommandParts {
  /** Types after type 0, which is `_start`'s () -> (). */
  types?: Bytes[];
  imports?: Bytes[];
  /** Imported functions (default: every import), so `_start` gets the next index. */
  importedFunctions?: number;
  tables?: Bytes[];
}

/** A WASI command module whose `_start` does nothing. */
export function command(o: CommandParts = {}): Buffer {
  const imported = o.importedFunctions ?? o.imports?.length ?? 0;
  return wasmModule(
    section(1, vec([funcType([], []), ...(o.types ?? [])])),
    ...(o.imports ? [section(2, vec(o.imports))] : []),
    section(3, vec([[0]])),
    ...(o.tables ? [section(4, vec(o.tables))] : []),
    section(7, vec([[...encodeName('_start'), 0x00, ...leb(imported)]])),
    section(10, vec([EMPTY_BODY])),
  );
}

/** fd_write imported as (i32) -> (i32): links (host functions are JavaScript), then fails every call. */
export const WRONG_FD_WRITE = command({
  types: [funcType([I32], [I32])],
  imports: [importFunction(WASI, 'fd_write', 1)],
});
/** A 10M-element funcref table in under 64 bytes. */
export const TEN_MILLION_TABLE = command({ tables: [[FUNCREF, ...limits(10_000_000, 10_000_000)]] });
