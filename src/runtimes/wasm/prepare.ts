/**
 * Deploy-time work for a wasm function: find the handler file, check it is a WASI command module
 * Tern can link, cap its memory (see memory-cap.ts) and compile it once. Everything a user can get
 * wrong is refused here with TernError('bad_spec'), so the deploy answers 400 and nothing runs.
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { TernError } from '../../core/errors.js';
import type { FunctionSpec } from '../../registry/spec.js';
import { capModuleMemory, type CappedModule } from './memory-cap.js';
import type { ProgramMessage } from './protocol.js';
import { describeSignature, functionImports, type FunctionImport } from './import-types.js';
import { checkModuleCosts } from './module-checks.js';
import { TERN_IMPORTS, TERN_MODULE } from './tern-imports.js';
import { WASI_MODULE } from './wasi.js';

const I32 = 0x7f;
import { wasm, type WasmModule } from './wasm-api.js';

export const MAX_MODULE_BYTES = 64 * 1024 * 1024;

export interface CompiledModule {
  message: Omit<ProgramMessage, 'type' | 'id'>;
  /** The module imports Tern's own `tern` module (state, chaining). */
  usesHost: boolean;
  /** Size of the handler file, bytes. */
  size: number;
  note?: string;
}

function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

async function readHandler(spec: FunctionSpec, dir: string): Promise<Buffer> {
  const outside = new TernError(
    'bad_spec',
    `handler "${spec.handler}" must name a .wasm file inside the function folder`,
  );
  const path = resolve(dir, spec.handler);
  if (!inside(dir, path)) throw outside;
  const real = await realpath(path).catch(() => undefined);
  if (real === undefined)
    throw new TernError(
      'bad_spec',
      `handler "${spec.handler}" not found in the function folder (build the module first?)`,
    );
  // A symlink may not lead out of the folder either.
  if (!inside(await realpath(dir), real)) throw outside;
  const st = await stat(real).catch(() => undefined);
  if (!st)
    throw new TernError(
      'bad_spec',
      `handler "${spec.handler}" not found in the function folder (build the module first?)`,
    );
  if (!st.isFile()) throw new TernError('bad_spec', `handler "${spec.handler}" is not a file`);
  if (st.size > MAX_MODULE_BYTES)
    throw new TernError(
      'bad_spec',
      `handler "${spec.handler}" is ${st.size} bytes, over the ${MAX_MODULE_BYTES}-byte limit for a wasm module`,
    );
  return readFile(real);
}

async function compileOriginal(spec: FunctionSpec, bytes: Buffer): Promise<WasmModule> {
  try {
    return await wasm.compile(bytes);
  } catch (e) {
    throw new TernError('bad_spec', `handler "${spec.handler}" is not valid WebAssembly: ${(e as Error).message}`);
  }
}

/** `tern` imports must be ones Tern provides, with their documented signatures (all i32). */
function checkTernImports(spec: FunctionSpec, bytes: Uint8Array): boolean {
  let imports: FunctionImport[];
  try {
    imports = functionImports(bytes).filter((i) => i.module === TERN_MODULE);
  } catch (e) {
    throw new TernError('bad_spec', `handler "${spec.handler}": cannot read its imports: ${(e as Error).message}`);
  }
  for (const imp of imports) {
    const arity = TERN_IMPORTS[imp.name];
    if (arity === undefined) {
      throw new TernError(
        'bad_spec',
        `handler "${spec.handler}" imports ${TERN_MODULE}.${imp.name}, which Tern does not provide (see docs/state.md for the tern import module)`,
      );
    }
    const want = Array.from({ length: arity }, () => I32);
    if (imp.params.join() !== want.join() || imp.results.join() !== String(I32)) {
      throw new TernError(
        'bad_spec',
        `handler "${spec.handler}" imports ${TERN_MODULE}.${imp.name} as ${describeSignature(imp.params, imp.results)}, but it is ${describeSignature(want, [I32])} (use examples/include/tern.h)`,
      );
    }
  }
  return imports.length > 0;
}

function checkInterface(spec: FunctionSpec, module: WasmModule, capped: CappedModule): void {
  const start = wasm.Module.exports(module).find((e) => e.name === '_start');
  if (!start || start.kind !== 'function') {
    throw new TernError(
      'bad_spec',
      `handler "${spec.handler}" exports no _start function: Tern runs WASI command modules (a C program with main(), built with clang --target=wasm32-wasi), not reactors or libraries`,
    );
  }
  for (const imp of wasm.Module.imports(module)) {
    if ((imp.module === WASI_MODULE || imp.module === TERN_MODULE) && imp.kind === 'function') continue;
    const mi = capped.memoryImport;
    if (imp.kind === 'memory' && mi !== undefined && mi.module === imp.module && mi.name === imp.name) continue;
    throw new TernError(
      'bad_spec',
      `handler "${spec.handler}" imports ${imp.module}.${imp.name} (${imp.kind}), which Tern does not provide: only ${WASI_MODULE} and ${TERN_MODULE} functions and a memory can be imported`,
    );
  }
}

/** Validate, cap and compile the handler of a function folder. */
export async function compileFunction(spec: FunctionSpec, dir: string): Promise<CompiledModule> {
  const bytes = await readHandler(spec, dir);
  if (bytes.length < 4 || bytes.readUInt32BE(0) !== 0x0061736d) {
    throw new TernError(
      'bad_spec',
      `handler "${spec.handler}" is not a WebAssembly module (it does not start with \\0asm)`,
    );
  }
  let capped: CappedModule;
  try {
    capped = capModuleMemory(bytes, spec.memory);
  } catch (e) {
    if (e instanceof TernError) throw new TernError('bad_spec', `handler "${spec.handler}": ${e.message}`);
    // The reader choked: let the compiler say what is wrong with the file.
    await compileOriginal(spec, bytes);
    throw new TernError(
      'bad_spec',
      `handler "${spec.handler}": could not apply the memory limit: ${(e as Error).message}`,
    );
  }
  let module: WasmModule;
  try {
    module = await wasm.compile(capped.bytes);
  } catch (e) {
    await compileOriginal(spec, bytes);
    throw new TernError(
      'bad_spec',
      `handler "${spec.handler}": the memory-capped module does not compile: ${(e as Error).message}`,
    );
  }
  // WASI signatures and tables (module-checks.ts): before the interface check, so an imported table is counted too.
  checkModuleCosts(spec, bytes, capped.memoryImport?.limits.initial ?? 0);
  checkInterface(spec, module, capped);
  const usesHost = checkTernImports(spec, bytes);
  const args = [spec.handler];
  const m = capped.memoryImport;
  return {
    message: {
      module,
      args,
      capPages: capped.capPages,
      instrumented: capped.instrumented,
      ...(m
        ? { memoryImport: { module: m.module, name: m.name, initial: m.limits.initial, shared: m.limits.shared } }
        : {}),
    },
    usesHost,
    size: bytes.length,
    ...(capped.note !== undefined ? { note: capped.note } : {}),
  };
}
