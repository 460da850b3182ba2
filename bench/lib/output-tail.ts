/** Keeps the last bytes a child printed: enough to explain a failure, bounded however long it runs. */
export class OutputTail {
  private text = '';
  constructor(private readonly maxChars = 64 * 1024) {}

  push(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > this.maxChars * 2) this.text = this.text.slice(-this.maxChars);
  }

  toString(): string {
    return this.text.slice(-this.maxChars);
  }
}
