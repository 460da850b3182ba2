/**
 * Enforces a function's memory limit on its wasm module, by rewriting the module once at deploy.
 *
 * V8 gives no per-instance cap on linear memory, and a worker's resourceLimits do not count wasm
 * memory. What does hold is a memory's maximum: memory.grow past it fails. So:
 *  1. the module's own memory becomes an import (HOST_MEMORY_MODULE.memory) that the host creates
 *     with maximum = min(declared maximum, cap) — the guest can never hold more. A module that
 *     already imports its memory gets the same. (Owning the memory also lets a worker zero and
 *     reuse it for the next instance instead of mapping a new one: ~1 µs instead of ~10 µs.)
 *  2. every `memory.grow` is routed through a small function appended to the module that, when the
 *     grow is refused, sets an exported global and traps. The host sees that global and reports
 *     `memory_exceeded` instead of a generic trap, and the call stops at the point it ran out.
 * Memory index 0 stays memory index 0, and appending a memory import, a function, a type, a global
 * and an export shifts no other index, so the rest of the module is copied byte for byte. If a body
 * holds an instruction the walker does not know, step 2 is skipped (the cap still holds; see
 * `instrumented`).
 */
import { TernError } from '../../core/errors.js';
import {
  BinaryFormatError,
  encodeName,
  leb,
  Reader,
  readSections,
  SECTION,
  sectionRank,
  writeModule,
  type RawSection,
} from './binary.js';
import { OP_CALL, OP_MEMORY_GROW, skipInstruction } from './instructions.js';

export const PAGE_BYTES = 65536;
export const MAX_PAGES = 65536;
/** The exported global the appended grow hook sets to 1 when memory.grow is refused. */
export const GROW_REFUSED_EXPORT = '__tern_grow_refused';
/** Where a module's own memory is imported from once rewritten. */
export const HOST_MEMORY_MODULE = '__tern';
export const HOST_MEMORY_NAME = 'memory';

export interface MemoryLimits {
  initial: number;
  maximum?: number;
  shared: boolean;
}

export interface MemoryImport {
  module: string;
  name: string;
  limits: MemoryLimits;
}

export interface CappedModule {
  bytes: Uint8Array;
  /** Effective cap in 64 KiB pages: the smaller of the limit and the module's own maximum. */
  capPages: number;
  /** True when refused grows are recorded in GROW_REFUSED_EXPORT (see above). */
  instrumented: boolean;
  /** The memory the host creates (maximum = capPages) and passes in; absent when the module has none. */
  memoryImport?: MemoryImport;
  /** Why instrumentation was skipped, when it was. */
  note?: string;
}

interface ImportFacts {
  functions: number;
  globals: number;
  memories: MemoryImport[];
}

function readLimits(r: Reader): MemoryLimits {
  const flags = r.byte();
  if (flags & 0x04)
    throw new TernError('bad_spec', 'the module uses 64-bit memory (memory64), which this runtime does not support');
  if (flags > 0x03) throw new BinaryFormatError(`unknown memory limits flags 0x${flags.toString(16)}`);
  const initial = r.u32();
  const maximum = flags & 0x01 ? r.u32() : undefined;
  return { initial, shared: (flags & 0x02) !== 0, ...(maximum !== undefined ? { maximum } : {}) };
}

function encodeLimits(l: MemoryLimits, maximum: number): number[] {
  return [0x01 | (l.shared ? 0x02 : 0), ...leb(l.initial), ...leb(maximum)];
}

function readImports(bytes: Uint8Array, s: RawSection | undefined): ImportFacts {
  const facts: ImportFacts = { functions: 0, globals: 0, memories: [] };
  if (!s) return facts;
  const r = new Reader(bytes, s.start, s.end);
  const count = r.u32();
  for (let i = 0; i < count; i++) {
    const module = r.name();
    const name = r.name();
    const kind = r.byte();
    if (kind === 0x00) {
      r.u32();
      facts.functions++;
    } else if (kind === 0x01) {
      r.byte(); // table element type
      readLimits(r);
    } else if (kind === 0x02) {
      facts.memories.push({ module, name, limits: readLimits(r) });
    } else if (kind === 0x03) {
      r.byte(); // value type
      r.byte(); // mutability
      facts.globals++;
    } else if (kind === 0x04) {
      r.byte(); // tag attribute
      r.u32();
    } else throw new BinaryFormatError(`unknown import kind ${kind}`);
  }
  return facts;
}

function vecCount(bytes: Uint8Array, s: RawSection | undefined): { count: number; rest: Uint8Array } {
  if (!s) return { count: 0, rest: new Uint8Array(0) };
  const r = new Reader(bytes, s.start, s.end);
  const count = r.u32();
  return { count, rest: bytes.subarray(r.pos, s.end) };
}

/** A vector section with entries appended after the existing ones. */
function appendToVec(bytes: Uint8Array, s: RawSection | undefined, entries: number[][]): Uint8Array {
  const { count, rest } = vecCount(bytes, s);
  return Buffer.concat([Uint8Array.from(leb(count + entries.length)), rest, Uint8Array.from(entries.flat())]);
}

/** The appended hook: (delta) -> memory.grow(delta), but a refused grow sets the flag and traps. */
function growHookBody(flagGlobal: number): Uint8Array {
  const code = [
    0x01,
    0x01,
    0x7f, // one i32 local (the grow result)
    0x20,
    0x00, // local.get 0
    0x40,
    0x00, // memory.grow 0
    0x22,
    0x01, // local.tee 1
    0x41,
    0x7f, // i32.const -1
    0x46, // i32.eq
    0x04,
    0x40, // if
    0x41,
    0x01,
    0x24,
    ...leb(flagGlobal), // global.set flag 1
    0x00, // unreachable
    0x0b, // end if
    0x20,
    0x01, // local.get 1
    0x0b, // end
  ];
  return Uint8Array.from([...leb(code.length), ...code]);
}

/** The code section with every `memory.grow 0` replaced by `call hook`, plus the hook's body. */
function rewriteCode(bytes: Uint8Array, s: RawSection, hookIndex: number, flagGlobal: number): Uint8Array {
  const r = new Reader(bytes, s.start, s.end);
  const count = r.u32();
  const callHook = Uint8Array.from([OP_CALL, ...leb(hookIndex)]);
  const out: Uint8Array[] = [Uint8Array.from(leb(count + 1))];
  for (let f = 0; f < count; f++) {
    const size = r.u32();
    const bodyStart = r.pos;
    const bodyEnd = bodyStart + size;
    const body = new Reader(bytes, bodyStart, bodyEnd);
    const localGroups = body.u32();
    for (let i = 0; i < localGroups; i++) {
      body.u32();
      const t = body.byte();
      if (t !== 0x7f && t !== 0x7e && t !== 0x7d && t !== 0x7c && t !== 0x7b && t !== 0x70 && t !== 0x6f) {
        throw new BinaryFormatError(`unknown local type 0x${t.toString(16)}`);
      }
    }
    const pieces: Uint8Array[] = [];
    let copied = bodyStart;
    while (!body.done) {
      const at = body.pos;
      const op = skipInstruction(body);
      if (op !== OP_MEMORY_GROW) continue;
      const memidx = new Reader(bytes, at + 1, body.pos).u32();
      if (memidx !== 0) continue;
      pieces.push(bytes.subarray(copied, at), callHook);
      copied = body.pos;
    }
    if (body.pos !== bodyEnd) throw new BinaryFormatError('function body overruns its size');
    pieces.push(bytes.subarray(copied, bodyEnd));
    const newSize = pieces.reduce((n, p) => n + p.length, 0);
    out.push(Uint8Array.from(leb(newSize)), ...pieces);
    r.pos = bodyEnd;
  }
  out.push(growHookBody(flagGlobal));
  return Buffer.concat(out);
}

/** New contents by section id; null drops the section. */
type Replacements = Map<number, Uint8Array | null>;

function instrument(bytes: Uint8Array, sections: RawSection[], imports: ImportFacts, replaced: Replacements): void {
  const find = (id: number) => sections.find((s) => s.id === id);
  const code = find(SECTION.code);
  if (!code) throw new BinaryFormatError('no code section');
  const exports = find(SECTION.export);
  if (exports) {
    const r = new Reader(bytes, exports.start, exports.end);
    const n = r.u32();
    for (let i = 0; i < n; i++) {
      if (r.name() === GROW_REFUSED_EXPORT)
        throw new BinaryFormatError(`the module already exports ${GROW_REFUSED_EXPORT}`);
      r.byte();
      r.u32();
    }
  }
  const types = vecCount(bytes, find(SECTION.type)).count;
  const definedFunctions = vecCount(bytes, find(SECTION.function)).count;
  const definedGlobals = vecCount(bytes, find(SECTION.global)).count;
  const hookIndex = imports.functions + definedFunctions;
  const flagGlobal = imports.globals + definedGlobals;

  // Build everything first: a failure leaves `replaced` untouched.
  const next: Replacements = new Map();
  next.set(SECTION.type, appendToVec(bytes, find(SECTION.type), [[0x60, 0x01, 0x7f, 0x01, 0x7f]]));
  next.set(SECTION.function, appendToVec(bytes, find(SECTION.function), [leb(types)]));
  next.set(SECTION.global, appendToVec(bytes, find(SECTION.global), [[0x7f, 0x01, 0x41, 0x00, 0x0b]]));
  next.set(
    SECTION.export,
    appendToVec(bytes, exports, [[...encodeName(GROW_REFUSED_EXPORT), 0x03, ...leb(flagGlobal)]]),
  );
  next.set(SECTION.code, rewriteCode(bytes, code, hookIndex, flagGlobal));
  for (const [id, content] of next) replaced.set(id, content);
}

/** Lay the sections out again: replaced contents in place, new sections at their spec position. */
function assemble(bytes: Uint8Array, sections: RawSection[], replaced: Replacements): Uint8Array {
  const pending = new Map(replaced);
  const out: Array<{ id: number; content: Uint8Array }> = [];
  const flushBefore = (rank: number) => {
    for (const [id, content] of [...pending].sort((a, b) => sectionRank(a[0]) - sectionRank(b[0]))) {
      if (sectionRank(id) < rank) {
        if (content !== null) out.push({ id, content });
        pending.delete(id);
      }
    }
  };
  for (const s of sections) {
    if (s.id !== SECTION.custom) flushBefore(sectionRank(s.id));
    const content = pending.get(s.id);
    if (content !== undefined && s.id !== SECTION.custom) {
      if (content !== null) out.push({ id: s.id, content });
      pending.delete(s.id);
    } else out.push({ id: s.id, content: bytes.subarray(s.start, s.end) });
  }
  flushBefore(Infinity);
  return writeModule(out);
}

/**
 * Cap the module's memory at `limitMiB`. Throws TernError('bad_spec') when the module cannot fit
 * (initial memory above the limit) or is malformed in a way the compiler would also reject.
 */
export function capModuleMemory(bytes: Uint8Array, limitMiB: number): CappedModule {
  const limitPages = Math.min(MAX_PAGES, Math.floor((limitMiB * 1024 * 1024) / PAGE_BYTES));
  const sections = readSections(bytes);
  const imports = readImports(
    bytes,
    sections.find((s) => s.id === SECTION.import),
  );
  const memorySection = sections.find((s) => s.id === SECTION.memory);
  const defined: MemoryLimits[] = [];
  if (memorySection) {
    const r = new Reader(bytes, memorySection.start, memorySection.end);
    const n = r.u32();
    for (let i = 0; i < n; i++) defined.push(readLimits(r));
  }
  const all = [...imports.memories.map((m) => m.limits), ...defined];
  if (all.length > 1)
    throw new TernError('bad_spec', 'the module has more than one memory, which this runtime does not support');
  const memory = all[0];
  if (!memory) return { bytes, capPages: limitPages, instrumented: false, note: 'the module has no memory' };

  const capPages = Math.min(limitPages, memory.maximum ?? MAX_PAGES);
  if (memory.initial > capPages) {
    const needMiB = Math.ceil((memory.initial * PAGE_BYTES) / (1024 * 1024));
    throw new TernError(
      'bad_spec',
      `the module starts with ${needMiB} MiB of linear memory, more than its limit of ${limitMiB} MiB (raise memory in function.toml)`,
    );
  }
  const replaced: Replacements = new Map();
  let memoryImport = imports.memories[0];
  if (!memoryImport) {
    memoryImport = { module: HOST_MEMORY_MODULE, name: HOST_MEMORY_NAME, limits: memory };
    const entry = [
      ...encodeName(HOST_MEMORY_MODULE),
      ...encodeName(HOST_MEMORY_NAME),
      0x02,
      ...encodeLimits(memory, capPages),
    ];
    replaced.set(
      SECTION.import,
      appendToVec(
        bytes,
        sections.find((s) => s.id === SECTION.import),
        [entry],
      ),
    );
    replaced.set(SECTION.memory, null);
  }

  let instrumented = false;
  let note: string | undefined;
  try {
    instrument(bytes, sections, imports, replaced);
    instrumented = true;
  } catch (e) {
    if (e instanceof TernError) throw e;
    note = `memory.grow not instrumented: ${(e as Error).message}`;
  }
  return {
    bytes: assemble(bytes, sections, replaced),
    capPages,
    instrumented,
    memoryImport,
    ...(note !== undefined ? { note } : {}),
  };
}
