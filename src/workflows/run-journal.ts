/**
 * The journal of one async run, `<data>/workflows/runs/<id>.jsonl`: its start (the definition as
 * it was, the input, the deadline), then one line per completed state and per Wait begun, each on
 * disk (fdatasync) before the run goes on. A node that dies mid-run resumes from it: completed
 * states are replayed from their journaled output, never run again. Removed once the run's result
 * is recorded in the call table.
 */
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Journal } from '../scheduler/journal.js';
import type { StepRecord } from './interpreter.js';
import { isObject, type Json } from './json.js';

export interface RunStart {
  t: 'start';
  workflow: string;
  definition: string;
  input: Json;
  startedAt: number;
  deadline: number;
  authenticated: boolean;
}

type Line = RunStart | ({ t: 'step' } & StepRecord) | { t: 'wait'; k: string; until: number };

/** Call ids are base64url: anything else in the folder is not ours. */
const RUN_FILE = /^([A-Za-z0-9_-]{1,64})\.jsonl$/;

export class RunJournal {
  private readonly steps = new Map<string, StepRecord>();
  private readonly waits = new Map<string, number>();

  private constructor(
    private readonly path: string,
    private readonly journal: Journal,
    readonly start: RunStart,
  ) {}

  static async create(dir: string, id: string, start: RunStart): Promise<RunJournal> {
    const path = join(dir, `${id}.jsonl`);
    // open() writes the start line to a temp file, syncs it and renames it in place: durable from here.
    return new RunJournal(path, await Journal.open(path, [start]), start);
  }

  /** The runs a previous node left: id -> their lines read back (a torn last line is dropped). */
  static async unfinished(dir: string): Promise<Map<string, RunJournal>> {
    await mkdir(dir, { recursive: true });
    const out = new Map<string, RunJournal>();
    for (const file of await readdir(dir)) {
      const m = RUN_FILE.exec(file);
      if (!m) continue;
      const path = join(dir, file);
      const lines = (await Journal.read(path)).filter(isLine);
      const start = lines.find((l): l is RunStart => l.t === 'start');
      if (start === undefined) {
        await rm(path, { force: true });
        continue;
      }
      const run = new RunJournal(path, await Journal.open(path, lines), start);
      for (const line of lines) run.remember(line);
      out.set(m[1]!, run);
    }
    return out;
  }

  recall(key: string): StepRecord | undefined {
    return this.steps.get(key);
  }

  recallWait(key: string): number | undefined {
    return this.waits.get(key);
  }

  get replayable(): number {
    return this.steps.size;
  }

  completed(record: StepRecord): Promise<void> {
    const line: Line = { t: 'step', ...record };
    this.remember(line);
    return this.journal.append(line, true);
  }

  waitStarted(key: string, until: number): Promise<void> {
    const line: Line = { t: 'wait', k: key, until };
    this.remember(line);
    return this.journal.append(line, true);
  }

  /** Closes the file, keeping it for the next start (the node is shutting down mid-run). */
  async close(): Promise<void> {
    await this.journal.close();
  }

  async remove(): Promise<void> {
    await this.journal.close();
    await rm(this.path, { force: true });
  }

  private remember(line: Line): void {
    if (line.t === 'step') this.steps.set(line.k, { k: line.k, o: line.o, n: line.n });
    else if (line.t === 'wait') this.waits.set(line.k, line.until);
  }
}

function isLine(v: unknown): v is Line {
  if (!isObject(v as Json)) return false;
  const l = v as Record<string, unknown>;
  if (l.t === 'start')
    return (
      typeof l.workflow === 'string' &&
      typeof l.definition === 'string' &&
      typeof l.startedAt === 'number' &&
      typeof l.deadline === 'number'
    );
  if (l.t === 'step') return typeof l.k === 'string' && 'o' in l && (l.n === null || typeof l.n === 'string');
  if (l.t === 'wait') return typeof l.k === 'string' && typeof l.until === 'number';
  return false;
}
