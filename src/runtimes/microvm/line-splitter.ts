/** Splits a console byte stream into bounded lines (a guest may print anything, of any length). */
import { StringDecoder } from 'node:string_decoder';

export const MAX_LINE_CHARS = 8 * 1024;

export class LineSplitter {
  private pending = '';
  private readonly decoder = new StringDecoder('utf8');

  constructor(private readonly emit: (line: string) => void) {}

  push(chunk: Buffer): void {
    const lines = (this.pending + this.decoder.write(chunk)).split('\n');
    this.pending = lines.pop() ?? '';
    for (const line of lines) this.emitBounded(line);
    while (this.pending.length > MAX_LINE_CHARS) {
      this.emit(this.pending.slice(0, MAX_LINE_CHARS));
      this.pending = this.pending.slice(MAX_LINE_CHARS);
    }
  }

  end(): void {
    const rest = this.pending + this.decoder.end();
    this.pending = '';
    if (rest !== '') this.emitBounded(rest);
  }

  private emitBounded(line: string): void {
    // Serial consoles end lines with \r\n.
    const clean = line.replace(/\r+$/, '');
    for (let i = 0; i === 0 || i < clean.length; i += MAX_LINE_CHARS) this.emit(clean.slice(i, i + MAX_LINE_CHARS));
  }
}
