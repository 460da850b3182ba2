/**
 * Runs wasm calls on the current thread: one fresh WebAssembly.Instance per call over a compiled
 * module, the call's body on stdin and its CGI environment, stdout and stderr into buffers. Used
 * by the worker threads (worker.ts) and, for short calls of preemptible modules, by an event loop
 * directly (inline.ts). One call at a time; `end()` after reading its output.
 */
import { GROW_REFUSED_EXPORT, PAGE_BYTES } from './memory-cap.js';
import { FUEL_EXPORT } from './preempt.js';
import { OUTCOME, type OutcomeKind, type ProgramMessage } from './protocol.js';
import type { TernHost } from './tern-imports.js';
import { TERN_MODULE } from './tern-imports.js';
import { ReadOnlyTree } from './wasi-files.js';
import { OutputLimitExceeded, ProcExit, Wasi, WASI_MODULE, WouldBlock } from './wasi.js';
import { wasm, type WasmImports, type WasmInstance, type WasmMemory } from './wasm-api.js';

interface Program {
  message: ProgramMessage;
  args: Uint8Array;
  /** The import object; its memory slot is filled per instance. */
  imports: WasmImports;
  memorySlot: Record<string, unknown> | undefined;
  /** A zeroed memory left by the last call, ready for the next instance. */
  spare: WasmMemory | undefined;
  /** Size a memory must still have to be reused (0: never reuse, too big to zero cheaply). */
  reuseBytes: number;
  /** A kept instance, made as new after each call (resettable modules, when the runner keeps instances). */
  warm: Warm | undefined;
}

/** An instance kept between calls and what makes it new again: its memory and globals right after instantiation. */
interface Warm {
  instance: WasmInstance;
  memory: WasmMemory;
  snapshot: Uint8Array;
  globals: { global: { value: unknown }; value: unknown }[];
}

export interface GuestOutcome {
  kind: OutcomeKind;
  exitCode: number;
  message: string;
  memoryBytes: number;
  /** The call was stopped to run again elsewhere: out of fuel, or it would have slept (`blocked`). */
  preempted?: boolean;
  blocked?: boolean;
}

export interface GuestCall {
  programId: number;
  stdin: Uint8Array;
  env: Uint8Array;
  envCount: number;
  /** Folder to preopen read-only at "/", or "" for none. */
  root: string;
  /** Fuel for a preemptible module (preempt.ts); absent: the module has none. */
  fuel?: number;
}

const MAX_TREES = 64;
/** Zeroing costs ~1 µs per 128 KiB; past this a fresh (lazily zeroed) memory is cheaper. */
const MAX_REUSE_BYTES = 1 << 20;
/** Spare memories kept, for the most recently called programs (≤ 32 MiB in all). */
const MAX_SPARES = 32;
/** Without the grow hook, a failure this close to the cap is taken for running out of memory. */
const HEURISTIC_SLACK_BYTES = 1 << 20;

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/i.test(e.message);
}

export class GuestRunner {
  readonly wasi: Wasi;
  private readonly programs = new Map<number, Program>();
  private readonly trees = new Map<string, ReadOnlyTree>();
  /** Programs holding a spare memory, oldest first. */
  private readonly spareHolders = new Set<Program>();
  private lastMemory: WasmMemory | undefined;
  private lastProgram: Program | undefined;

  /** The program whose kept instance the last call used (reset in `end()`). */
  private lastWarm: Program | undefined;

  constructor(
    limits: { stdout: number; stderr: number },
    /** The `tern` import module (state, chaining), where calls may use it (worker threads only). */
    private readonly tern?: TernHost,
    /** Keep one instance per resettable program and reset it after each call, instead of instantiating per call. */
    private readonly keepInstances = false,
  ) {
    // A runner that keeps instances runs on an event loop: no guest may sleep there.
    this.wasi = new Wasi(limits, !keepInstances);
  }

  has(id: number): boolean {
    return this.programs.has(id);
  }

  addProgram(message: ProgramMessage): void {
    const imported = wasm.Module.imports(message.module);
    const names = imported.filter((i) => i.module === WASI_MODULE && i.kind === 'function').map((i) => i.name);
    const imports: WasmImports = { [WASI_MODULE]: this.wasi.importsFor(names) };
    // prepare.ts admitted only known `tern` names with the right signatures.
    if (this.tern && imported.some((i) => i.module === TERN_MODULE)) imports[TERN_MODULE] = this.tern.imports;
    const m = message.memoryImport;
    let memorySlot: Record<string, unknown> | undefined;
    if (m) {
      memorySlot = { ...imports[m.module] };
      imports[m.module] = memorySlot;
    }
    const initialBytes = (m?.initial ?? 0) * PAGE_BYTES;
    this.programs.set(message.id, {
      message,
      args: Buffer.from(message.args.map((a) => `${a}\0`).join('')),
      imports,
      memorySlot,
      spare: undefined,
      reuseBytes: initialBytes > 0 && initialBytes <= MAX_REUSE_BYTES ? initialBytes : 0,
      warm: undefined,
    });
  }

  forget(id: number): void {
    const program = this.programs.get(id);
    if (program) this.spareHolders.delete(program);
    this.programs.delete(id);
  }

  /** Runs one call; its output stays in `wasi.stdout`/`wasi.stderr` until `end()`. */
  run(call: GuestCall): GuestOutcome {
    const program = this.programs.get(call.programId);
    if (!program)
      return {
        kind: OUTCOME.INTERNAL,
        exitCode: 0,
        message: `module ${call.programId} was not delivered here`,
        memoryBytes: 0,
      };
    this.wasi.begin({
      stdin: call.stdin,
      env: call.env,
      envCount: call.envCount,
      args: program.args,
      argCount: program.message.args.length,
      files: call.root ? this.treeFor(call.root) : null,
    });
    this.lastProgram = program;
    this.tern?.begin();
    try {
      const kept =
        this.keepInstances && program.message.reset !== undefined && program.message.memoryImport !== undefined;
      const run = kept ? this.runKept(program, call.fuel) : this.instantiateAndRun(program, call.fuel);
      return this.attributeToMemory(program, run);
    } catch (e) {
      return { kind: OUTCOME.INTERNAL, exitCode: 0, message: `host error: ${describe(e)}`, memoryBytes: 0 };
    }
  }

  /** The call is answered: forget it, zero its memory (or reset its kept instance) for the next call. */
  end(): void {
    this.wasi.end();
    this.tern?.end();
    if (this.lastWarm !== undefined) this.resetWarm(this.lastWarm);
    else this.recycleMemory();
  }

  /** A resettable program's call on its kept instance (made on the first call). */
  private runKept(program: Program, fuel: number | undefined): GuestOutcome {
    let warm = program.warm;
    if (warm === undefined) {
      const m = program.message.memoryImport!;
      const memory = new wasm.Memory({ initial: m.initial, maximum: program.message.capPages });
      program.memorySlot![m.name] = memory;
      let instance: WasmInstance;
      try {
        instance = new wasm.Instance(program.message.module, program.imports);
      } catch (e) {
        return { kind: OUTCOME.INSTANTIATE_FAILED, exitCode: 0, message: describe(e), memoryBytes: 0 };
      }
      const globals = program.message.reset!.globals.map((name) => {
        const global = instance.exports[name] as { value: unknown };
        return { global, value: global.value };
      });
      warm = { instance, memory, snapshot: new Uint8Array(memory.buffer).slice(), globals };
      program.warm = warm;
    }
    this.lastWarm = program;
    this.wasi.bindMemory(warm.memory);
    const instance = warm.instance;
    try {
      if (fuel !== undefined) (instance.exports[FUEL_EXPORT] as { value: number }).value = fuel;
      (instance.exports._start as () => void)();
      return { kind: OUTCOME.EXIT, exitCode: 0, message: '', memoryBytes: warm.memory.buffer.byteLength };
    } catch (e) {
      return this.failure(e, instance, fuel, warm.memory.buffer.byteLength);
    }
  }

  /** As new: the memory and the globals as they were right after instantiation; one that grew is dropped. */
  private resetWarm(program: Program): void {
    this.lastWarm = undefined;
    const warm = program.warm;
    if (warm === undefined) return;
    const buffer = warm.memory.buffer;
    if (buffer.byteLength !== warm.snapshot.byteLength || this.programs.get(program.message.id) !== program) {
      program.warm = undefined;
      return;
    }
    new Uint8Array(buffer).set(warm.snapshot);
    for (const g of warm.globals) g.global.value = g.value;
  }

  private treeFor(root: string): ReadOnlyTree {
    let tree = this.trees.get(root);
    if (!tree) {
      tree = new ReadOnlyTree(root);
      if (this.trees.size >= MAX_TREES) this.trees.delete(this.trees.keys().next().value as string);
      this.trees.set(root, tree);
    }
    return tree;
  }

  private bindMemory(program: Program): WasmMemory | undefined {
    const m = program.message.memoryImport;
    if (!m || !program.memorySlot) return undefined;
    const memory =
      program.spare ??
      new wasm.Memory({ initial: m.initial, maximum: program.message.capPages, ...(m.shared ? { shared: true } : {}) });
    program.spare = undefined;
    program.memorySlot[m.name] = memory;
    this.wasi.bindMemory(memory);
    this.tern?.bindMemory(memory);
    this.lastMemory = memory;
    return memory;
  }

  private instantiateAndRun(program: Program, fuel: number | undefined): GuestOutcome {
    let memory = this.bindMemory(program);
    let instance: WasmInstance | undefined;
    const memoryBytes = () => memory?.buffer.byteLength ?? 0;
    try {
      try {
        instance = new wasm.Instance(program.message.module, program.imports);
      } catch (e) {
        if (e instanceof ProcExit)
          return { kind: OUTCOME.EXIT, exitCode: e.code, message: '', memoryBytes: memoryBytes() };
        return { kind: OUTCOME.INSTANTIATE_FAILED, exitCode: 0, message: describe(e), memoryBytes: memoryBytes() };
      }
      const exported = instance.exports.memory;
      if (!memory && exported instanceof wasm.Memory) {
        memory = exported;
        this.wasi.bindMemory(memory);
        this.tern?.bindMemory(memory);
      }
      if (fuel !== undefined) (instance.exports[FUEL_EXPORT] as { value: number }).value = fuel;
      (instance.exports._start as () => void)();
      return { kind: OUTCOME.EXIT, exitCode: 0, message: '', memoryBytes: memoryBytes() };
    } catch (e) {
      return this.failure(e, instance, fuel, memoryBytes());
    }
  }

  private failure(
    e: unknown,
    instance: WasmInstance | undefined,
    fuel: number | undefined,
    bytes: number,
  ): GuestOutcome {
    if (e instanceof ProcExit) return { kind: OUTCOME.EXIT, exitCode: e.code, message: '', memoryBytes: bytes };
    if (e instanceof WouldBlock)
      return {
        kind: OUTCOME.TRAP,
        exitCode: 0,
        message: 'would sleep',
        memoryBytes: bytes,
        preempted: true,
        blocked: true,
      };
    if (e instanceof OutputLimitExceeded)
      return { kind: OUTCOME.OUTPUT_LIMIT, exitCode: 0, message: `stdout passed ${e.limit} bytes`, memoryBytes: bytes };
    const refused = instance?.exports[GROW_REFUSED_EXPORT];
    if (refused instanceof wasm.Global && refused.value === 1)
      return { kind: OUTCOME.MEMORY_EXCEEDED, exitCode: 0, message: 'memory.grow refused', memoryBytes: bytes };
    const left = fuel === undefined ? undefined : instance?.exports[FUEL_EXPORT];
    if (left instanceof wasm.Global && (left.value as number) < 0)
      return { kind: OUTCOME.TRAP, exitCode: 0, message: 'preempted', memoryBytes: bytes, preempted: true };
    if (e instanceof wasm.RuntimeError || isStackOverflow(e))
      return { kind: OUTCOME.TRAP, exitCode: 0, message: describe(e), memoryBytes: bytes };
    return { kind: OUTCOME.INTERNAL, exitCode: 0, message: `host error: ${describe(e)}`, memoryBytes: bytes };
  }

  /** Only for modules the grow hook could not be added to: a failure at the cap is a memory failure. */
  private attributeToMemory(program: Program, o: GuestOutcome): GuestOutcome {
    if (program.message.instrumented || o.preempted) return o;
    const failed = o.kind === OUTCOME.TRAP || (o.kind === OUTCOME.EXIT && o.exitCode !== 0);
    if (failed && o.memoryBytes >= program.message.capPages * PAGE_BYTES - HEURISTIC_SLACK_BYTES) {
      return {
        ...o,
        kind: OUTCOME.MEMORY_EXCEEDED,
        message: `failed at the memory cap (${o.kind === OUTCOME.TRAP ? o.message : `exit ${o.exitCode}`})`,
      };
    }
    return o;
  }

  private recycleMemory(): void {
    const memory = this.lastMemory;
    const program = this.lastProgram;
    this.lastMemory = undefined;
    this.lastProgram = undefined;
    if (!memory || !program || program.reuseBytes === 0 || this.programs.get(program.message.id) !== program) return;
    // A memory that grew cannot shrink back: only an untouched-size one is as good as new once zeroed.
    if (memory.buffer.byteLength !== program.reuseBytes) return;
    new Uint8Array(memory.buffer).fill(0);
    program.spare = memory;
    this.spareHolders.delete(program);
    this.spareHolders.add(program);
    if (this.spareHolders.size > MAX_SPARES) {
      const oldest = this.spareHolders.values().next().value as Program;
      oldest.spare = undefined;
      this.spareHolders.delete(oldest);
    }
  }
}
