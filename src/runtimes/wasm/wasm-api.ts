/**
 * The global WebAssembly object, typed. @types/node 20 does not declare it (it lives in the DOM lib,
 * which this project does not load), and a global declaration here could clash with someone else's:
 * so a module-local view of the part this runtime uses.
 */

/** A compiled module (opaque; structured-cloneable to workers). */
export interface WasmModule {
  readonly __wasmModule?: never;
}

export type ExternKind = 'function' | 'table' | 'memory' | 'global' | 'tag';

export interface ExportDescriptor {
  name: string;
  kind: ExternKind;
}

export interface ImportDescriptor extends ExportDescriptor {
  module: string;
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(delta: number): number;
}

export interface WasmGlobal {
  value: unknown;
}

export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

export type WasmImports = Record<string, Record<string, unknown>>;

interface WebAssemblyApi {
  Module: {
    new (bytes: Uint8Array): WasmModule;
    imports(module: WasmModule): ImportDescriptor[];
    exports(module: WasmModule): ExportDescriptor[];
  };
  Instance: new (module: WasmModule, imports?: WasmImports) => WasmInstance;
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
  Global: new (descriptor: { value: string; mutable?: boolean }, value?: unknown) => WasmGlobal;
  RuntimeError: new (message?: string) => Error;
  compile(bytes: Uint8Array): Promise<WasmModule>;
  validate(bytes: Uint8Array): boolean;
}

export const wasm: WebAssemblyApi = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
