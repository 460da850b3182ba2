/**
 * The function log store: every line a function's instances print, kept per function in a bounded
 * store that survives a node restart. Lines land in memory at once (tail for fast reads, followers)
 * and reach `<dir>/<fn>.log` in batches through one serial I/O queue, so the hot path never waits
 * on the disk. A file rotates to `<fn>.log.1` at `maxLines` lines (or `maxFileBytes`); reads return
 * at most the newest `maxLines` lines.
 */
import { mkdir } from 'node:fs/promises';
import { TernError } from '../core/errors.js';
import { NAME_PATTERN } from '../registry/spec.js';
import type { LogSink, LogStream } from '../core/logs.js';
import { boundLine, type LogEntry } from './log-entry.js';
import { appendLines, loadLog, logPaths, removeLog, rotateLog, type LogPaths } from './log-files.js';

export type { LogEntry } from './log-entry.js';

export interface FunctionLogsOptions {
  /** Folder of the log files (created by open()). */
  dir: string;
  /** Lines kept per function; a read returns at most this many. */
  maxLines: number;
  /** A file also rotates once it passes this size. Default 16 MiB. */
  maxFileBytes?: number;
  /** Concurrent followers per function. Default 16. */
  maxFollowers?: number;
  /** Lines of each function kept in memory for reads without disk I/O. Default min(maxLines, 1000). */
  memoryLines?: number;
  /** Called when a write fails (the batch is lost, the store keeps going). */
  onError?: (err: Error, fn: string) => void;
}

export interface ReadOptions {
  /** Only lines at or after this time. */
  since?: Date;
  /** Only the newest `tail` lines (after `since`). */
  tail?: number;
}

type Listener = (entry: LogEntry) => void;

interface FunctionState {
  readonly paths: LogPaths;
  /** Newest lines, oldest first; `complete` when it holds every stored line. */
  memory: LogEntry[];
  memoryChars: number;
  complete: boolean;
  /** Disk state loaded (first touch reads the files; they may hold lines from before a restart). */
  loaded: boolean;
  /** Lines and bytes of the current file are known (false again after a failed write). */
  counted: boolean;
  fileLines: number;
  fileBytes: number;
  /** Lines waiting for the next batched write. */
  pending: LogEntry[];
  /** Lines appended since the node started (to find those that came in during a disk read). */
  appends: number;
  followers: Set<Listener>;
}

const DEFAULT_MAX_FILE_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_FOLLOWERS = 16;
const DEFAULT_MEMORY_LINES = 1000;
/** Per function, whatever memoryLines says: bounds memory when lines are long. */
const MEMORY_CHARS = 1024 * 1024;

/** Pool instance ids are `<function>-<sequence>` (src/pool/slot.ts); the sequence has no "-". */
export function functionOfInstance(instance: string): string | undefined {
  const dash = instance.lastIndexOf('-');
  if (dash <= 0) return undefined;
  const fn = instance.slice(0, dash);
  return NAME_PATTERN.test(fn) ? fn : undefined;
}

function checkName(fn: string): void {
  if (!NAME_PATTERN.test(fn)) throw new TernError('bad_request', `not a function name: "${fn}"`);
}

export class FunctionLogs {
  private readonly states = new Map<string, FunctionState>();
  private readonly dirty = new Set<string>();
  private readonly maxFileBytes: number;
  private readonly maxFollowers: number;
  private readonly memoryLines: number;
  private io: Promise<void> = Promise.resolve();
  private flushQueued = false;
  private closed = false;

  constructor(private readonly opts: FunctionLogsOptions) {
    if (!Number.isInteger(opts.maxLines) || opts.maxLines < 1)
      throw new TernError('bad_request', `logs max-lines: must be a positive integer, got ${opts.maxLines}`);
    this.maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.maxFollowers = opts.maxFollowers ?? DEFAULT_MAX_FOLLOWERS;
    this.memoryLines = Math.max(1, Math.min(opts.maxLines, opts.memoryLines ?? DEFAULT_MEMORY_LINES));
  }

  async open(): Promise<void> {
    await mkdir(this.opts.dir, { recursive: true });
  }

  /**
   * The runtimes' LogSink for every function at once: the function is read from the pool's
   * instance id. Lines of an instance id that names no function are dropped.
   */
  readonly sink: LogSink = (line, stream, instance, callId) => {
    const fn = functionOfInstance(instance);
    if (fn !== undefined) this.append(fn, line, stream, instance, callId);
  };

  /** A LogSink bound to one function (for runtimes whose instance ids do not follow the pool's). */
  sinkFor(fn: string): LogSink {
    checkName(fn);
    return (line, stream, instance, callId) => this.append(fn, line, stream, instance, callId);
  }

  /** Record one line now (memory, followers); it reaches the disk with the next batch. */
  append(fn: string, line: string, stream: LogStream, instance: string, callId?: string): void {
    if (this.closed) return;
    checkName(fn);
    const entry: LogEntry = {
      time: new Date().toISOString(),
      fn,
      instance,
      ...(callId ? { call: callId } : {}),
      stream,
      line: boundLine(line),
    };
    const state = this.state(fn);
    this.remember(state, [entry]);
    state.pending.push(entry);
    state.appends += 1;
    // A stalled disk must not grow memory without bound: lines beyond one file's worth would rotate out anyway.
    if (state.pending.length > this.opts.maxLines) state.pending.splice(0, state.pending.length - this.opts.maxLines);
    for (const listener of state.followers) {
      try {
        listener(entry);
      } catch {
        // A broken follower must not break the function's logging.
      }
    }
    this.dirty.add(fn);
    this.scheduleFlush();
  }

  /** Stored lines of `fn`, oldest first: those at or after `since`, the newest `tail` of them, at most maxLines. */
  async read(fn: string, opts: ReadOptions = {}): Promise<LogEntry[]> {
    checkName(fn);
    const limit = Math.min(opts.tail ?? this.opts.maxLines, this.opts.maxLines);
    const since = opts.since?.toISOString();
    const state = this.state(fn);
    if (!state.loaded) await this.enqueue(() => this.load(state));
    const fromMemory = this.fromMemory(state, since, limit);
    if (fromMemory) return fromMemory;
    return this.enqueue(async () => {
      await this.write(fn, state);
      const written = state.appends;
      const { entries } = await loadLog(state.paths);
      // Lines appended while the files were read are in memory only; a follower that starts
      // right after this read must not miss them.
      const late = state.appends - written;
      if (late > 0) entries.push(...state.memory.slice(-late));
      return newest(entries, since, limit);
    });
  }

  /** Call `listener` with every line appended from now on; returns the unsubscribe function. */
  follow(fn: string, listener: Listener): () => void {
    checkName(fn);
    const state = this.state(fn);
    if (state.followers.size >= this.maxFollowers)
      throw new TernError('queue_full', `too many log followers of "${fn}" (at most ${this.maxFollowers})`);
    state.followers.add(listener);
    return () => {
      state.followers.delete(listener);
    };
  }

  /** Forget a function's lines, in memory and on disk; its followers get nothing more. */
  async remove(fn: string): Promise<void> {
    checkName(fn);
    const state = this.states.get(fn);
    this.states.delete(fn);
    this.dirty.delete(fn);
    state?.followers.clear();
    const paths = state?.paths ?? logPaths(this.opts.dir, fn);
    await this.enqueue(() => removeLog(paths));
  }

  /** Resolves once every line appended so far is on disk. */
  flush(): Promise<void> {
    return this.enqueue(() => this.flushDirty());
  }

  /** Write every pending line; later appends are dropped. */
  async close(): Promise<void> {
    if (this.closed) return this.io;
    this.closed = true;
    await this.flush();
    for (const state of this.states.values()) state.followers.clear();
  }

  private state(fn: string): FunctionState {
    let state = this.states.get(fn);
    if (!state) {
      state = {
        paths: logPaths(this.opts.dir, fn),
        memory: [],
        memoryChars: 0,
        complete: true,
        loaded: false,
        counted: false,
        fileLines: 0,
        fileBytes: 0,
        pending: [],
        appends: 0,
        followers: new Set(),
      };
      this.states.set(fn, state);
    }
    return state;
  }

  /** Add entries at the newest end of the memory tail and trim its oldest end to the bounds. */
  private remember(state: FunctionState, entries: LogEntry[]): void {
    for (const e of entries) {
      state.memory.push(e);
      state.memoryChars += e.line.length;
    }
    let drop = Math.max(0, state.memory.length - this.memoryLines);
    let chars = state.memoryChars;
    for (let i = 0; i < drop; i++) chars -= state.memory[i]!.line.length;
    while (chars > MEMORY_CHARS && drop < state.memory.length - 1) chars -= state.memory[drop++]!.line.length;
    if (drop > 0) {
      state.memory.splice(0, drop);
      state.memoryChars = chars;
      state.complete = false;
    }
  }

  /** The answer from memory when memory surely holds all of it; else undefined. */
  private fromMemory(state: FunctionState, since: string | undefined, limit: number): LogEntry[] | undefined {
    const matches = since === undefined ? state.memory : state.memory.filter((e) => e.time >= since);
    const oldest = state.memory[0];
    const allMatchesHere = state.complete || (since !== undefined && oldest !== undefined && oldest.time < since);
    if (allMatchesHere || matches.length >= limit) return matches.slice(Math.max(0, matches.length - limit));
    return undefined;
  }

  /** First touch of a function since the node started: count its file, seed memory with its newest lines. */
  private async load(state: FunctionState): Promise<void> {
    if (state.loaded) return;
    const loaded = await loadLog(state.paths);
    state.fileLines = loaded.lines;
    state.fileBytes = loaded.bytes;
    state.counted = true;
    state.loaded = true;
    // Lines appended before the load are newer than anything on disk: they stay at the newest end.
    const appended = state.memory;
    state.memory = [];
    state.memoryChars = 0;
    state.complete = true;
    this.remember(state, newest(loaded.entries, undefined, this.opts.maxLines));
    this.remember(state, appended);
  }

  private scheduleFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    // setImmediate lets every line of the current I/O turn join the batch.
    setImmediate(() => {
      void this.enqueue(() => this.flushDirty());
    });
  }

  private async flushDirty(): Promise<void> {
    this.flushQueued = false;
    const names = [...this.dirty];
    this.dirty.clear();
    for (const fn of names) {
      const state = this.states.get(fn);
      if (state) await this.write(fn, state);
    }
  }

  /** Write a function's pending lines, rotating whenever the current file is full. Runs on the I/O queue. */
  private async write(fn: string, state: FunctionState): Promise<void> {
    if (state.pending.length === 0) return;
    const batch = state.pending;
    state.pending = [];
    try {
      await this.load(state);
      if (!state.counted) {
        const { lines, bytes } = await loadLog(state.paths);
        state.fileLines = lines;
        state.fileBytes = bytes;
        state.counted = true;
      }
      let next = 0;
      while (next < batch.length) {
        if (state.fileLines >= this.opts.maxLines || state.fileBytes >= this.maxFileBytes) {
          await rotateLog(state.paths);
          state.fileLines = 0;
          state.fileBytes = 0;
        }
        // Fill the current file up to its line and byte bounds (at least one line), then rotate.
        const chunk: string[] = [];
        let bytes = 0;
        while (
          next < batch.length &&
          state.fileLines + chunk.length < this.opts.maxLines &&
          state.fileBytes + bytes < this.maxFileBytes
        ) {
          const text = `${JSON.stringify(batch[next++])}\n`;
          chunk.push(text);
          bytes += Buffer.byteLength(text);
        }
        await appendLines(state.paths, chunk.join(''));
        state.fileLines += chunk.length;
        state.fileBytes += bytes;
      }
    } catch (e) {
      // The file may now end in a torn line: count (and repair) it again before the next write.
      state.counted = false;
      this.opts.onError?.(e as Error, fn);
    }
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const run = this.io.then(op);
    this.io = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }
}

/** Entries at or after `since`, the newest `limit` of them, oldest first. */
function newest(entries: LogEntry[], since: string | undefined, limit: number): LogEntry[] {
  const matches = since === undefined ? entries : entries.filter((e) => e.time >= since);
  return matches.slice(Math.max(0, matches.length - limit));
}
