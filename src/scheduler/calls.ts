/**
 * The async call table: one record per accepted async call, queued -> running -> done|failed,
 * kept `retentionMs` after it finishes and at most `max` at once. Every state change is a line in
 * `<dir>/journal.jsonl`; a call is on disk before it is acknowledged. On open, calls a previous run
 * left unfinished are marked failed (they may or may not have run: the caller must decide).
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { TernError } from '../core/errors.js';
import type { Invocation } from '../core/invocation.js';
import type { Report } from '../core/report.js';
import type { Result } from '../core/result.js';
import { Journal } from './journal.js';
import type { CallRecord, CallState, JobKind } from './types.js';

export interface CallTableOptions {
  /** <data>/calls */
  dir: string;
  retentionMs: number;
  max: number;
  /** Largest response body stored in a record (bytes). */
  maxBodyBytes: number;
  logger: Logger;
}

const STATES: ReadonlySet<string> = new Set<CallState>(['queued', 'running', 'done', 'failed']);
const KINDS: ReadonlySet<string> = new Set<JobKind>(['workflow']);
/** Compact once the file holds this many lines more than twice the live records. */
const COMPACT_MIN_LINES = 1000;
const COMPACT_BYTES = 64 * 1024 * 1024;
const SWEEP_MAX_MS = 60_000;

export const RESTART_ERROR = { code: 'unavailable', message: 'node restarted before the call finished' } as const;

export class CallTable {
  private readonly records = new Map<string, CallRecord>();
  /** Finished ids -> finish time (epoch ms), in finishing order. */
  private readonly finished = new Map<string, number>();
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;
  /** Jobs a previous run left unfinished, until their owner resumes them (resumeJobs) or gives them up. */
  private readonly unfinishedJobs: CallRecord[];

  private constructor(
    private readonly o: CallTableOptions,
    private readonly journal: Journal,
    records: CallRecord[],
  ) {
    for (const r of records) this.records.set(r.id, r);
    this.unfinishedJobs = records.filter((r) => r.kind !== undefined && r.finishedAt === undefined);
    const done = records.filter((r) => r.finishedAt !== undefined).sort((a, b) => finishedMs(a) - finishedMs(b));
    for (const r of done) this.finished.set(r.id, finishedMs(r));
    this.sweepTimer = setInterval(() => this.sweep(), Math.max(1000, Math.min(o.retentionMs, SWEEP_MAX_MS)));
    this.sweepTimer.unref();
  }

  static async open(o: CallTableOptions): Promise<CallTable> {
    const path = join(o.dir, 'journal.jsonl');
    const byId = new Map<string, CallRecord>();
    for (const value of await Journal.read(path)) {
      const record = asCallRecord(value);
      if (record) byId.set(record.id, record);
    }
    const now = Date.now();
    const nowIso = new Date(now).toISOString();
    const kept: CallRecord[] = [];
    let interrupted = 0;
    for (const r of byId.values()) {
      // A job's owner resumes it from its own journal (resumeJobs); only plain calls are lost with the process.
      if ((r.state === 'queued' || r.state === 'running') && r.kind === undefined) {
        r.state = 'failed';
        r.finishedAt = nowIso;
        r.error = { ...RESTART_ERROR };
        interrupted++;
      }
      if (finishedMs(r) + o.retentionMs > now) kept.push(r);
    }
    // Over the limit (a smaller `max` than last run): the oldest finished go first.
    const excess = kept.length - o.max;
    if (excess > 0) {
      const oldest = new Set([...kept].sort((a, b) => finishedMs(a) - finishedMs(b)).slice(0, excess));
      kept.splice(0, kept.length, ...kept.filter((r) => !oldest.has(r)));
    }
    const journal = await Journal.open(path, kept);
    if (interrupted > 0)
      o.logger.warn(
        { event: 'calls_interrupted', count: interrupted },
        `${interrupted} async call(s) were cut short by the last shutdown`,
      );
    return new CallTable(o, journal, kept);
  }

  get size(): number {
    return this.records.size;
  }

  /** Records a new call durably; throws TernError 503 when the table is full of unfinished calls. */
  accept(inv: Invocation, isPrivate: boolean): Promise<CallRecord> {
    return this.acceptRecord(inv.id, inv.function, isPrivate, undefined);
  }

  /** Records a new job (`name`: what the record's `function` says) durably, as `accept` does a call. */
  acceptJob(id: string, name: string, kind: JobKind, isPrivate: boolean): Promise<CallRecord> {
    return this.acceptRecord(id, name, isPrivate, kind);
  }

  /** Jobs of `kind` a previous run of the node left unfinished; each is handed out once. */
  takeUnfinished(kind: JobKind): CallRecord[] {
    const taken = this.unfinishedJobs.filter((r) => r.kind === kind);
    this.unfinishedJobs.splice(0, this.unfinishedJobs.length, ...this.unfinishedJobs.filter((r) => r.kind !== kind));
    return taken;
  }

  /** An unfinished job nobody resumed: failed, as a plain call is when the node restarts. */
  interrupted(id: string): void {
    const r = this.records.get(id);
    if (!r || r.finishedAt !== undefined) return;
    r.state = 'failed';
    r.finishedAt = new Date().toISOString();
    r.error = { ...RESTART_ERROR };
    this.finished.set(id, Date.now());
    this.write(r);
  }

  /** `finish`, resolved once the record is on disk (a job's owner then drops its own journal). */
  async finishDurably(id: string, result: Result): Promise<void> {
    const r = this.complete(id, result);
    if (r === undefined || this.closed) return;
    await this.journal.append(r, true);
    this.maybeCompact();
  }

  private async acceptRecord(
    id: string,
    fn: string,
    isPrivate: boolean,
    kind: JobKind | undefined,
  ): Promise<CallRecord> {
    if (this.closed) throw new TernError('unavailable', 'the node is shutting down');
    if (this.records.has(id)) throw new TernError('conflict', `call id "${id}" is already taken`);
    this.makeRoom();
    const record: CallRecord = {
      id,
      function: fn,
      state: 'queued',
      createdAt: new Date().toISOString(),
      ...(isPrivate ? { private: true as const } : {}),
      ...(kind !== undefined ? { kind } : {}),
    };
    this.records.set(record.id, record);
    try {
      await this.journal.append(record, true);
    } catch (e) {
      this.records.delete(record.id);
      throw new TernError('unavailable', `cannot record the call: ${(e as Error).message}`);
    }
    return record;
  }

  running(id: string): void {
    const r = this.records.get(id);
    if (!r || r.state !== 'queued') return;
    r.state = 'running';
    this.write(r);
  }

  finish(id: string, result: Result): void {
    const r = this.complete(id, result);
    if (r === undefined) return;
    this.write(r);
    this.maybeCompact();
  }

  private complete(id: string, result: Result): CallRecord | undefined {
    const r = this.records.get(id);
    if (!r || r.finishedAt !== undefined) return undefined;
    const now = Date.now();
    r.finishedAt = new Date(now).toISOString();
    r.report = result.report;
    const code = result.report.error;
    if (result.body.length > this.o.maxBodyBytes) {
      r.state = 'failed';
      r.error = {
        code: 'too_large',
        message: `the response body (${result.body.length} bytes) is over the ${this.o.maxBodyBytes}-byte limit for stored results`,
      };
    } else {
      r.result = { status: result.status, headers: { ...result.headers }, body: result.body.toString('base64') };
      if (code === undefined) {
        r.state = 'done';
      } else {
        r.state = 'failed';
        r.error = { code, message: errorMessage(result.body) ?? code };
      }
    }
    this.finished.set(id, now);
    return r;
  }

  /** The record, or undefined when unknown or expired. */
  call(id: string): CallRecord | undefined {
    const r = this.records.get(id);
    if (r === undefined) return undefined;
    const finishedAt = this.finished.get(id);
    if (finishedAt !== undefined && finishedAt + this.o.retentionMs <= Date.now()) {
      this.drop(id);
      return undefined;
    }
    return r;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    await this.journal.close();
  }

  private write(r: CallRecord): void {
    if (this.closed) return;
    this.journal.append(r, false).catch((e: unknown) => {
      this.o.logger.error(
        { event: 'calls_journal', call: r.id, err: (e as Error).message },
        'cannot write the async call journal',
      );
    });
  }

  private makeRoom(): void {
    if (this.records.size < this.o.max) return;
    this.expire(Date.now());
    if (this.records.size < this.o.max) return;
    const oldest = this.finished.keys().next();
    if (oldest.done)
      throw new TernError('unavailable', `too many async calls in progress (${this.o.max}); try again later`);
    this.drop(oldest.value);
  }

  private expire(now: number): void {
    for (const [id, finishedAt] of this.finished) {
      if (finishedAt + this.o.retentionMs > now) break;
      this.drop(id);
    }
  }

  private drop(id: string): void {
    this.records.delete(id);
    this.finished.delete(id);
  }

  private sweep(): void {
    this.expire(Date.now());
    this.maybeCompact();
  }

  private maybeCompact(): void {
    if (this.closed || this.journal.compacting) return;
    const j = this.journal;
    if (
      (j.lineCount > COMPACT_MIN_LINES && j.lineCount > 2 * this.records.size) ||
      j.bytesSinceCompact > COMPACT_BYTES
    ) {
      j.compact(() => this.records.values()).catch((e: unknown) => {
        this.o.logger.error(
          { event: 'calls_journal', err: (e as Error).message },
          'cannot compact the async call journal',
        );
      });
    }
  }
}

function finishedMs(r: CallRecord): number {
  const t = r.finishedAt === undefined ? NaN : Date.parse(r.finishedAt);
  return Number.isNaN(t) ? Infinity : t;
}

function errorMessage(body: Buffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (isObject(parsed) && isObject(parsed.error) && typeof parsed.error.message === 'string')
      return parsed.error.message;
  } catch {
    // not the JSON error shape
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isStringMap(v: unknown): v is Record<string, string> {
  return isObject(v) && Object.values(v).every((x) => typeof x === 'string');
}

/** A journal line as a record, or undefined when it is not one (a foreign or damaged line). */
function asCallRecord(v: unknown): CallRecord | undefined {
  if (!isObject(v)) return undefined;
  const { id, function: fn, state, createdAt, finishedAt, result, report, error, kind } = v;
  if (
    typeof id !== 'string' ||
    typeof fn !== 'string' ||
    typeof state !== 'string' ||
    !STATES.has(state) ||
    typeof createdAt !== 'string'
  )
    return undefined;
  const r: CallRecord = { id, function: fn, state: state as CallState, createdAt };
  if (typeof finishedAt === 'string') r.finishedAt = finishedAt;
  if (typeof kind === 'string' && KINDS.has(kind)) r.kind = kind as JobKind;
  if (v.private === true) r.private = true;
  if (
    isObject(result) &&
    typeof result.status === 'number' &&
    isStringMap(result.headers) &&
    typeof result.body === 'string'
  ) {
    r.result = { status: result.status, headers: result.headers, body: result.body };
  }
  if (isObject(report) && typeof report.node === 'string') r.report = report as unknown as Report;
  if (isObject(error) && typeof error.code === 'string' && typeof error.message === 'string')
    r.error = { code: error.code, message: error.message };
  if ((r.state === 'done' || r.state === 'failed') && r.finishedAt === undefined) r.finishedAt = createdAt;
  return r;
}
