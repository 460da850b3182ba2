/**
 * Splits a byte stream into bounded text lines: "\n" ends a line and trailing "\r"s go (serial
 * consoles end lines with "\r\n"); a line longer than the bound is cut in pieces. The one splitter
 * for every function's output (process pipes, a VM's console, a wasm call's buffers).
 */
export const MAX_LINE_BYTES = 16 * 1024;

export class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly emit: (line: string) => void) {}

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      this.append(chunk.subarray(start, nl));
      this.flushLine();
      start = nl + 1;
    }
    if (start < chunk.length) this.append(chunk.subarray(start));
  }

  /** Emit what is left as a last line (end of call or of stream). */
  end(): void {
    if (this.pendingBytes > 0) this.flushLine();
  }

  private append(part: Buffer): void {
    while (this.pendingBytes + part.length > MAX_LINE_BYTES) {
      const room = MAX_LINE_BYTES - this.pendingBytes;
      this.pending.push(part.subarray(0, room));
      this.pendingBytes += room;
      this.flushLine();
      part = part.subarray(room);
    }
    if (part.length) {
      this.pending.push(part);
      this.pendingBytes += part.length;
    }
  }

  private flushLine(): void {
    const bytes = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    let line = bytes.toString('utf8');
    while (line.endsWith('\r')) line = line.slice(0, -1);
    this.emit(line);
  }
}

/** Every line of a finished output, the last one even without its "\n". */
export function splitLines(output: Buffer, emit: (line: string) => void): void {
  const splitter = new LineSplitter(emit);
  splitter.push(output);
  splitter.end();
}
