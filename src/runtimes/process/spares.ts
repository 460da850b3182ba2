/**
 * Sandboxes started ahead of need, for single-use functions that have no zygote (node, binary, and
 * python where zygotes are off): a single-use function starts an instance per call, and a sandbox
 * with its interpreter and handler loaded costs tens of milliseconds, so the next few are started
 * while the current ones serve. A start then takes a ready spare (its id and log sink handed over,
 * instance.ts adopt) and a replacement starts in the background.
 *
 * Forking a running V8 is unsafe (its threads do not survive a fork), which rules out a node
 * zygote; a spare is a whole, fresh sandbox, so it shares nothing with any other instance.
 * Each spare reserves its function's memory in the node's budget, like an instance, until it is
 * claimed (the pool then holds the reservation) or ended. Spares of a function that has not
 * started an instance for IDLE_MS end.
 */
import type { Logger } from 'pino';
import type { DeployedFunction } from '../../registry/registry.js';
import type { InstanceOptions, LogStream, RuntimeMemory } from '../runtime.js';
import type { ProcessInstance } from './instance.js';
import { bakedKey } from './sandbox.js';

/** Spares kept per function version. */
export const SPARES = 2;
/** Spares of a function that has not started an instance for this long end. */
const IDLE_MS = 30_000;
/** Lines a spare may log before it is claimed (its handler's load); the rest are dropped. */
const HELD_LINES = 32;

/** Starts one sandboxed instance, resolving once its handler is loaded. */
export type SandboxStarter = (fn: DeployedFunction, options: InstanceOptions) => Promise<ProcessInstance>;

interface HeldLine {
  line: string;
  stream: LogStream;
}

interface Spare {
  instance: ProcessInstance;
  /** What it logged before anyone claimed it. */
  held: HeldLine[];
  /** MiB it reserved; `reserved`: the reservation is still the spares' own (not yet given back). */
  mib: number;
  reserved: boolean;
}

interface SpareSet {
  fn: DeployedFunction;
  ready: Spare[];
  starting: number;
  idleTimer: NodeJS.Timeout | undefined;
}

let spareSeq = 0;

export class SpareSandboxes {
  /** By function version and spec (what a sandbox bakes in). */
  private readonly sets = new Map<string, SpareSet>();
  private closed = false;

  constructor(
    private readonly start: SandboxStarter,
    private readonly scratchRoot: string,
    private readonly memory: RuntimeMemory | undefined,
    private readonly logger: Logger,
  ) {}

  /**
   * A ready spare of `fn`, now the pool's instance under `options`, or undefined when none is
   * ready. Either way the set is topped up again.
   */
  take(fn: DeployedFunction, options: InstanceOptions): ProcessInstance | undefined {
    if (this.closed) return undefined;
    const key = bakedKey(fn);
    let set = this.sets.get(key);
    if (!set) {
      set = { fn, ready: [], starting: 0, idleTimer: undefined };
      this.sets.set(key, set);
    }
    let spare: Spare | undefined;
    while ((spare = set.ready.shift()) !== undefined && !spare.instance.isReady) this.drop(spare);
    this.touch(key, set);
    // The pool reserved memory for this instance before asking for it: the spare's goes back,
    // before the refill reserves for its replacement.
    if (spare) this.drop(spare);
    this.fill(set);
    if (!spare) return undefined;
    spare.instance.adopt(options);
    for (const h of spare.held) options.log(h.line, h.stream, options.id, undefined);
    return spare.instance;
  }

  private touch(key: string, set: SpareSet): void {
    if (set.idleTimer !== undefined) clearTimeout(set.idleTimer);
    set.idleTimer = setTimeout(() => this.end(key), IDLE_MS);
    set.idleTimer.unref();
  }

  /** Release a spare's reservation (once). */
  private drop(spare: Spare): void {
    if (!spare.reserved) return;
    spare.reserved = false;
    this.memory?.release(spare.mib);
  }

  private fill(set: SpareSet): void {
    while (!this.closed && set.ready.length + set.starting < SPARES) {
      const mib = set.fn.spec.memory;
      if (this.memory && !this.memory.tryReserve(mib)) return;
      set.starting++;
      void this.startOne(set, mib).finally(() => set.starting--);
    }
  }

  private async startOne(set: SpareSet, mib: number): Promise<void> {
    const held: HeldLine[] = [];
    const id = `s${process.pid.toString(36)}-${(++spareSeq).toString(36)}`;
    let instance: ProcessInstance;
    try {
      instance = await this.start(set.fn, {
        id,
        scratchRoot: this.scratchRoot,
        log: (line, stream) => {
          if (held.length < HELD_LINES) held.push({ line, stream });
        },
      });
    } catch (e) {
      this.memory?.release(mib);
      this.logger.warn({ function: set.fn.spec.name, err: e }, 'a spare sandbox did not start; instances start cold');
      return;
    }
    const spare: Spare = { instance, held, mib, reserved: true };
    // Ended unclaimed (idle, a new version, a crash): its reservation goes back.
    void instance.finished.then(() => {
      const i = set.ready.indexOf(spare);
      if (i >= 0) set.ready.splice(i, 1);
      this.drop(spare);
    });
    if (this.closed || this.sets.get(bakedKey(set.fn)) !== set) {
      await instance.stop().catch(() => undefined);
      return;
    }
    set.ready.push(spare);
    this.logger.debug({ function: set.fn.spec.name, spare: id }, 'spare sandbox ready');
  }

  /** End the spares of one set (idle, or its version is gone). */
  private end(key: string): void {
    const set = this.sets.get(key);
    if (!set) return;
    this.sets.delete(key);
    if (set.idleTimer !== undefined) clearTimeout(set.idleTimer);
    for (const spare of set.ready.splice(0)) void spare.instance.stop().catch(() => undefined);
  }

  /** The version in `dir` is gone: its spares end. */
  release(dir: string): void {
    for (const [key, set] of this.sets) if (set.fn.dir === dir) this.end(key);
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.sets.values()].flatMap((s) => s.ready);
    for (const key of [...this.sets.keys()]) this.end(key);
    await Promise.all(all.map((s) => s.instance.finished));
  }
}
