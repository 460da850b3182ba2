/**
 * A node's start-up and shutdown in explicit phases. Parts are built in dependency order (each
 * constructed from the parts it needs) and added here as they are; then every part listens, in
 * order; shutdown runs in reverse: first every part stops taking new work (quiesce), then work in
 * flight drains until a common deadline, then every part releases what it holds (close). A start
 * that fails part-way stops exactly the parts added so far.
 */
export interface Part {
  readonly name: string;
  /** Open the doors: bind sockets, join the cluster. Nothing listens before every part is built. */
  listen?(): Promise<void>;
  /** Stop taking new work (leave the cluster, stop accepting). */
  quiesce?(): Promise<void>;
  /** Let work in flight finish, until `deadline` (performance.now()). */
  drain?(deadline: number): Promise<void>;
  /** Release everything it holds. */
  close?(): Promise<void>;
}

export class Lifecycle {
  private readonly parts: Part[] = [];
  private stopping: Promise<void> | undefined;

  constructor(private readonly onProblem: (part: string, phase: string, err: unknown) => void) {}

  /** Register a built part; returns it, so building reads `const x = life.add(build())`. */
  add<T extends Part>(part: T): T {
    this.parts.push(part);
    return part;
  }

  async listen(): Promise<void> {
    for (const part of this.parts) await part.listen?.();
  }

  /** Once, however often called: quiesce, drain (bounded by `drainMs`), close, each in reverse. */
  stop(drainMs: number): Promise<void> {
    this.stopping ??= this.run(drainMs);
    return this.stopping;
  }

  private async run(drainMs: number): Promise<void> {
    const reversed = [...this.parts].reverse();
    for (const part of reversed) await this.step(part, 'quiesce', () => part.quiesce?.());
    const deadline = performance.now() + drainMs;
    for (const part of reversed) await this.step(part, 'drain', () => part.drain?.(deadline));
    for (const part of reversed) await this.step(part, 'close', () => part.close?.());
  }

  private async step(part: Part, phase: string, work: () => Promise<void> | undefined): Promise<void> {
    try {
      await work();
    } catch (e) {
      this.onProblem(part.name, phase, e);
    }
  }
}
