/**
 * Walks WebAssembly instructions without interpreting them: enough to find every `memory.grow`
 * in a function body at a real instruction boundary. Covers the MVP and the proposals clang and
 * V8 ship (sign extension, saturating conversions, bulk memory, reference types, SIMD, threads,
 * tail calls, exceptions). An opcode it does not know throws UnknownOpcodeError: the caller then
 * gives up rewriting rather than guess.
 */
import { BinaryFormatError, type Reader } from './binary.js';

export class UnknownOpcodeError extends BinaryFormatError {}

export const OP_END = 0x0b;
export const OP_CALL = 0x10;
export const OP_MEMORY_GROW = 0x40;

function blockType(r: Reader): void {
  const b = r.bytes[r.pos];
  // 0x40 (empty) and single value types are one byte; anything else is a type index (s33).
  if (b === 0x40 || b === 0x7f || b === 0x7e || b === 0x7d || b === 0x7c || b === 0x7b || b === 0x70 || b === 0x6f)
    r.byte();
  else r.skipLeb();
}

function memarg(r: Reader): void {
  const align = r.u32();
  // Multi-memory: bit 6 of the alignment says a memory index follows.
  if (align & 0x40) r.u32();
  r.skipLeb();
}

const NO_IMMEDIATE = new Set<number>([
  0x00,
  0x01,
  0x05,
  0x0b,
  0x0f,
  0x19,
  0x1a,
  0x1b,
  0xd1,
  // every numeric instruction from i32.eqz (0x45) to i64.extend32_s (0xc4)
  ...Array.from({ length: 0xc4 - 0x45 + 1 }, (_, i) => 0x45 + i),
]);

function prefixedFC(r: Reader): void {
  const sub = r.u32();
  if (sub <= 7) return; // saturating truncations
  switch (sub) {
    case 8: // memory.init data memidx
    case 10: // memory.copy dst src
    case 12: // table.init elem table
    case 14: // table.copy dst src
      r.u32();
      r.u32();
      return;
    case 9: // data.drop
    case 11: // memory.fill
    case 13: // elem.drop
    case 15: // table.grow
    case 16: // table.size
    case 17: // table.fill
      r.u32();
      return;
    default:
      throw new UnknownOpcodeError(`unknown instruction 0xfc ${sub}`);
  }
}

function prefixedFD(r: Reader): void {
  const sub = r.u32();
  if (sub <= 11 || sub === 92 || sub === 93) return memarg(r); // loads and stores
  if (sub === 12 || sub === 13) return r.skip(16); // v128.const, i8x16.shuffle
  if (sub >= 21 && sub <= 34) return r.skip(1); // extract/replace lane
  if (sub >= 84 && sub <= 91) {
    memarg(r); // load/store lane
    return r.skip(1);
  }
  if (sub <= 0x113) return; // every other SIMD instruction (incl. relaxed SIMD) has no immediate
  throw new UnknownOpcodeError(`unknown instruction 0xfd ${sub}`);
}

function prefixedFE(r: Reader): void {
  const sub = r.u32();
  if (sub === 0x03) return r.skip(1); // atomic.fence
  if (sub <= 0x4e) return memarg(r);
  throw new UnknownOpcodeError(`unknown instruction 0xfe ${sub}`);
}

/** Read one instruction (opcode and immediates). Returns its opcode (the prefix byte for prefixed ones). */
export function skipInstruction(r: Reader): number {
  const op = r.byte();
  if (NO_IMMEDIATE.has(op)) return op;
  switch (op) {
    case 0x02: // block
    case 0x03: // loop
    case 0x04: // if
    case 0x06: // try
      blockType(r);
      return op;
    case 0x07: // catch
    case 0x08: // throw
    case 0x09: // rethrow
    case 0x18: // delegate
    case 0x0c: // br
    case 0x0d: // br_if
    case 0x10: // call
    case 0x12: // return_call
    case 0x20: // local.get
    case 0x21: // local.set
    case 0x22: // local.tee
    case 0x23: // global.get
    case 0x24: // global.set
    case 0x25: // table.get
    case 0x26: // table.set
    case 0x3f: // memory.size
    case 0x40: // memory.grow
    case 0xd2: // ref.func
      r.u32();
      return op;
    case 0x0e: {
      // br_table: a vector of labels and a default
      const n = r.u32();
      for (let i = 0; i <= n; i++) r.u32();
      return op;
    }
    case 0x11: // call_indirect type table
    case 0x13: // return_call_indirect
      r.u32();
      r.u32();
      return op;
    case 0x1c: {
      // typed select
      const n = r.u32();
      r.skip(n);
      return op;
    }
    case 0x41: // i32.const
    case 0x42: // i64.const
      r.skipLeb();
      return op;
    case 0x43:
      r.skip(4);
      return op;
    case 0x44:
      r.skip(8);
      return op;
    case 0xd0: // ref.null reftype
      r.byte();
      return op;
    case 0xfc:
      prefixedFC(r);
      return op;
    case 0xfd:
      prefixedFD(r);
      return op;
    case 0xfe:
      prefixedFE(r);
      return op;
    default:
      if (op >= 0x28 && op <= 0x3e) {
        memarg(r); // loads and stores
        return op;
      }
      throw new UnknownOpcodeError(`unknown instruction 0x${op.toString(16)}`);
  }
}

/** Skip a constant expression (global initialisers): instructions up to and including its `end`. */
export function skipConstExpr(r: Reader): void {
  let depth = 0;
  for (;;) {
    const op = skipInstruction(r);
    if (op === 0x02 || op === 0x03 || op === 0x04) depth++;
    else if (op === OP_END) {
      if (depth === 0) return;
      depth--;
    }
  }
}
