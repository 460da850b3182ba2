/**
 * Just enough of the WebAssembly binary format to read a module's sections and write a new one:
 * LEB128 numbers, names, section framing. Malformed input throws BinaryFormatError.
 */

export class BinaryFormatError extends Error {}

export const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d] as const;
export const WASM_VERSION_1 = [0x01, 0x00, 0x00, 0x00] as const;

export const SECTION = {
  custom: 0,
  type: 1,
  import: 2,
  function: 3,
  table: 4,
  memory: 5,
  global: 6,
  export: 7,
  start: 8,
  element: 9,
  code: 10,
  data: 11,
  dataCount: 12,
  tag: 13,
} as const;

/** Where each known section must sit (the spec's order; tag and data count sit between others). */
const SECTION_ORDER: Record<number, number> = {
  1: 1,
  2: 2,
  3: 3,
  4: 4,
  5: 5,
  13: 6,
  6: 7,
  7: 8,
  8: 9,
  9: 10,
  12: 11,
  10: 12,
  11: 13,
};

export function sectionRank(id: number): number {
  return SECTION_ORDER[id] ?? -1;
}

export class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    readonly end = bytes.length,
  ) {
    this.pos = start;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  byte(): number {
    if (this.pos >= this.end) throw new BinaryFormatError('unexpected end of data');
    return this.bytes[this.pos++]!;
  }

  skip(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new BinaryFormatError('unexpected end of data');
    this.pos += n;
  }

  /** Unsigned LEB128 up to 32 bits. */
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = this.byte();
      if (shift === 28 && b > 0x0f) throw new BinaryFormatError('u32 out of range');
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 28) throw new BinaryFormatError('u32 too long');
    }
  }

  /** Skip any LEB128 number (signed or unsigned, up to 64 bits). */
  skipLeb(): void {
    for (let i = 0; i < 10; i++) if ((this.byte() & 0x80) === 0) return;
    throw new BinaryFormatError('LEB128 number too long');
  }

  name(): string {
    const len = this.u32();
    const start = this.pos;
    this.skip(len);
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + start, len).toString('utf8');
  }
}

/** Unsigned LEB128 encoding. */
export function leb(value: number): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`not a u32: ${value}`);
  const out: number[] = [];
  let v = value;
  do {
    let b = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
}

export function encodeName(name: string): number[] {
  const bytes = Buffer.from(name, 'utf8');
  return [...leb(bytes.length), ...bytes];
}

export interface RawSection {
  id: number;
  /** Start and end of the section's content (after id and size). */
  start: number;
  end: number;
}

/** Split a module into its sections; checks magic, version and framing only. */
export function readSections(bytes: Uint8Array): RawSection[] {
  if (bytes.length < 8 || WASM_MAGIC.some((b, i) => bytes[i] !== b))
    throw new BinaryFormatError('not a WebAssembly module (no \\0asm magic number)');
  if (WASM_VERSION_1.some((b, i) => bytes[4 + i] !== b))
    throw new BinaryFormatError('unsupported WebAssembly binary version (only version 1 modules run here)');
  const r = new Reader(bytes, 8);
  const sections: RawSection[] = [];
  while (!r.done) {
    const id = r.byte();
    const size = r.u32();
    const start = r.pos;
    r.skip(size);
    sections.push({ id, start, end: r.pos });
  }
  return sections;
}

/** Assemble a module from section contents, in the order given. */
export function writeModule(sections: Array<{ id: number; content: Uint8Array }>): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.from([...WASM_MAGIC, ...WASM_VERSION_1])];
  for (const s of sections) {
    parts.push(Uint8Array.from([s.id, ...leb(s.content.length)]));
    parts.push(s.content);
  }
  return Buffer.concat(parts);
}
