/**
 * Makes a (memory-capped) module preemptible, for calls run on an event loop's own thread, where
 * no other thread can stop a guest: a fuel counter that the guest spends as it runs and that
 * stops it when it runs out.
 *
 * An exported mutable global (FUEL_EXPORT) holds the fuel; the host sets it before each call.
 * Every function entry and every loop head subtracts a cost — the byte size of the function body
 * or of the loop body, a stand-in for the straight-line work until the next check — and traps
 * (`unreachable`) when the fuel goes below zero. The host tells that trap from the guest's own by
 * the global being negative. No import is added, so no function or global index shifts: the rest
 * of the module is copied byte for byte. A body with an instruction the walker does not know
 * makes the whole rewrite fail (the module then only runs on worker threads, which can be ended).
 */
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
import { skipInstruction } from './instructions.js';

export const FUEL_EXPORT = '__tern_fuel';

const OP_BLOCK = 0x02;
const OP_LOOP = 0x03;
const OP_IF = 0x04;
const OP_TRY = 0x06;
const OP_DELEGATE = 0x18;
const OP_TRY_TABLE = 0x1f;
const OP_END = 0x0b;
/** One unit of fuel per this many bytes of code between checks. */
const BYTES_PER_UNIT = 4;

function vecCount(bytes: Uint8Array, s: RawSection | undefined): { count: number; rest: Uint8Array } {
  if (!s) return { count: 0, rest: new Uint8Array(0) };
  const r = new Reader(bytes, s.start, s.end);
  const count = r.u32();
  return { count, rest: bytes.subarray(r.pos, s.end) };
}

function appendToVec(bytes: Uint8Array, s: RawSection | undefined, entries: number[][]): Uint8Array {
  const { count, rest } = vecCount(bytes, s);
  return Buffer.concat([Uint8Array.from(leb(count + entries.length)), rest, Uint8Array.from(entries.flat())]);
}

function importedGlobals(bytes: Uint8Array, s: RawSection | undefined): number {
  if (!s) return 0;
  const r = new Reader(bytes, s.start, s.end);
  let globals = 0;
  for (let i = r.u32(); i > 0; i--) {
    r.name();
    r.name();
    const kind = r.byte();
    if (kind === 0x00) r.u32();
    else if (kind === 0x01) {
      r.byte();
      const flags = r.byte();
      r.u32();
      if (flags & 1) r.u32();
    } else if (kind === 0x02) {
      const flags = r.byte();
      r.u32();
      if (flags & 1) r.u32();
    } else if (kind === 0x03) {
      r.byte();
      r.byte();
      globals++;
    } else if (kind === 0x04) {
      r.byte();
      r.u32();
    } else throw new BinaryFormatError(`unknown import kind ${kind}`);
  }
  return globals;
}

/** A non-negative i32 as `i32.const` takes it: signed LEB128. */
function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>>= 7;
    if (n === 0 && (b & 0x40) === 0) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

/** `fuel -= cost; if (fuel < 0) unreachable` */
function check(fuel: number, cost: number): number[] {
  const g = leb(fuel);
  return [0x23, ...g, 0x41, ...sleb(cost), 0x6b, 0x24, ...g, 0x23, ...g, 0x41, 0x00, 0x48, 0x04, 0x40, 0x00, 0x0b];
}

/** Where each instruction of a body starts, its opcode, and where each loop's body ends. */
function scan(body: Reader): { at: number[]; op: number[]; loopEnd: Map<number, number> } {
  const at: number[] = [];
  const op: number[] = [];
  const loopEnd = new Map<number, number>();
  const open: number[] = [];
  while (!body.done) {
    const start = body.pos;
    const code = skipInstruction(body);
    at.push(start);
    op.push(code);
    if (code === OP_BLOCK || code === OP_LOOP || code === OP_IF || code === OP_TRY || code === OP_TRY_TABLE)
      open.push(code === OP_LOOP ? body.pos : -1);
    else if (code === OP_END || code === OP_DELEGATE) {
      const loopBodyStart = open.pop();
      if (loopBodyStart !== undefined && loopBodyStart >= 0) loopEnd.set(loopBodyStart, start);
    }
  }
  return { at, op, loopEnd };
}

function rewriteBody(bytes: Uint8Array, bodyStart: number, bodyEnd: number, fuel: number): Uint8Array {
  const body = new Reader(bytes, bodyStart, bodyEnd);
  for (let groups = body.u32(); groups > 0; groups--) {
    body.u32();
    body.byte();
  }
  const codeStart = body.pos;
  const { at, op, loopEnd } = scan(body);
  const unit = (n: number) => Math.max(1, Math.ceil(n / BYTES_PER_UNIT));
  const pieces: number[][] = [];
  let copied = bodyStart;
  const insert = (pos: number, cost: number) => {
    pieces.push([...bytes.subarray(copied, pos)], check(fuel, cost));
    copied = pos;
  };
  insert(codeStart, unit(bodyEnd - codeStart));
  for (let i = 0; i < at.length; i++) {
    if (op[i] !== OP_LOOP) continue;
    const inside = i + 1 < at.length ? at[i + 1]! : bodyEnd;
    insert(inside, unit((loopEnd.get(inside) ?? bodyEnd) - inside));
  }
  pieces.push([...bytes.subarray(copied, bodyEnd)]);
  const code = pieces.flat();
  return Uint8Array.from([...leb(code.length), ...code]);
}

function rewriteCode(bytes: Uint8Array, s: RawSection, fuel: number): Uint8Array {
  const r = new Reader(bytes, s.start, s.end);
  const count = r.u32();
  const out: Uint8Array[] = [Uint8Array.from(leb(count))];
  for (let f = 0; f < count; f++) {
    const size = r.u32();
    const bodyStart = r.pos;
    out.push(rewriteBody(bytes, bodyStart, bodyStart + size, fuel));
    r.pos = bodyStart + size;
  }
  return Buffer.concat(out);
}

/** The module with fuel checks; throws BinaryFormatError (or UnknownOpcodeError) when it cannot be rewritten. */
export function addFuel(bytes: Uint8Array): Uint8Array {
  const sections = readSections(bytes);
  const find = (id: number) => sections.find((s) => s.id === id);
  const code = find(SECTION.code);
  if (!code) throw new BinaryFormatError('no code section');
  const fuel = importedGlobals(bytes, find(SECTION.import)) + vecCount(bytes, find(SECTION.global)).count;
  const replaced = new Map<number, Uint8Array>([
    [SECTION.global, appendToVec(bytes, find(SECTION.global), [[0x7f, 0x01, 0x41, 0x00, 0x0b]])],
    [SECTION.export, appendToVec(bytes, find(SECTION.export), [[...encodeName(FUEL_EXPORT), 0x03, ...leb(fuel)]])],
    [SECTION.code, rewriteCode(bytes, code, fuel)],
  ]);
  const out: { id: number; content: Uint8Array }[] = [];
  for (const s of sections) {
    const content = replaced.get(s.id);
    out.push({ id: s.id, content: content ?? bytes.subarray(s.start, s.end) });
    if (content !== undefined) replaced.delete(s.id);
  }
  // A module without a global or export section gets one, in the spec's order.
  for (const [id, content] of replaced) {
    const before = out.findIndex((s) => s.id !== SECTION.custom && sectionRank(s.id) > sectionRank(id));
    out.splice(before === -1 ? out.length : before, 0, { id, content });
  }
  return writeModule(out);
}
