/**
 * The on-disk half of one function's log: `<dir>/<fn>.log` (JSON lines, appended) and
 * `<dir>/<fn>.log.1` (the previous file, replaced at each rotation).
 */
import { appendFile, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseEntry, type LogEntry } from './log-entry.js';

export interface LogPaths {
  current: string;
  previous: string;
}

export function logPaths(dir: string, fn: string): LogPaths {
  const current = join(dir, `${fn}.log`);
  return { current, previous: `${current}.1` };
}

function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException).code === 'ENOENT';
}

async function readOrEmpty(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    if (isMissing(e)) return Buffer.alloc(0);
    throw e;
  }
}

const NEWLINE = 0x0a;

function parseLines(buf: Buffer, into: LogEntry[]): void {
  for (const text of buf.toString('utf8').split('\n')) {
    const entry = parseEntry(text);
    if (entry) into.push(entry);
  }
}

export interface LoadedLog {
  /** Lines in the current file (complete ones: a torn last line has been cut off). */
  lines: number;
  bytes: number;
  /** Every readable entry of both files, oldest first. */
  entries: LogEntry[];
}

/**
 * Read both files. A last line without its newline is what a crash mid-write leaves: it is cut
 * off the current file so the next append starts on a line of its own.
 */
export async function loadLog(paths: LogPaths): Promise<LoadedLog> {
  const entries: LogEntry[] = [];
  parseLines(await readOrEmpty(paths.previous), entries);
  let current = await readOrEmpty(paths.current);
  if (current.length > 0 && current[current.length - 1] !== NEWLINE) {
    const keep = current.lastIndexOf(NEWLINE) + 1;
    const handle = await open(paths.current, 'r+');
    try {
      await handle.truncate(keep);
    } finally {
      await handle.close();
    }
    current = current.subarray(0, keep);
  }
  parseLines(current, entries);
  let lines = 0;
  for (let at = current.indexOf(NEWLINE); at !== -1; at = current.indexOf(NEWLINE, at + 1)) lines += 1;
  return { lines, bytes: current.length, entries };
}

export async function appendLines(paths: LogPaths, text: string): Promise<void> {
  await appendFile(paths.current, text);
}

/** The current file becomes the previous one (the old previous is dropped). */
export async function rotateLog(paths: LogPaths): Promise<void> {
  try {
    await rename(paths.current, paths.previous);
  } catch (e) {
    if (!isMissing(e)) throw e;
  }
}

export async function removeLog(paths: LogPaths): Promise<void> {
  await rm(paths.current, { force: true });
  await rm(paths.previous, { force: true });
}
