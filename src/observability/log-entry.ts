/** One captured line of a function's output, as stored (one JSON object per file line) and served. */
import type { LogStream } from '../core/logs.js';

export interface LogEntry {
  /** ISO 8601, when the node received the line. */
  time: string;
  fn: string;
  instance: string;
  /** Call id, when the runtime knows which call printed it. */
  call?: string;
  stream: LogStream;
  line: string;
}

/** Longest line kept, in UTF-16 code units (about 8 KiB of ASCII); longer lines are cut and marked. */
export const MAX_LINE_CHARS = 8 * 1024;
export const TRUNCATED_MARKER = ' …[truncated]';

export function boundLine(line: string): string {
  if (line.length <= MAX_LINE_CHARS) return line;
  let end = MAX_LINE_CHARS;
  // Never split a surrogate pair: half a character would not survive JSON round trips cleanly.
  const last = line.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return line.slice(0, end) + TRUNCATED_MARKER;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A stored line back as an entry; undefined for anything else (a torn write, a foreign line). */
export function parseEntry(text: string): LogEntry | undefined {
  if (text === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(v)) return undefined;
  const { time, fn, instance, call, stream, line } = v;
  if (typeof time !== 'string' || typeof fn !== 'string' || typeof instance !== 'string' || typeof line !== 'string')
    return undefined;
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  if (call !== undefined && typeof call !== 'string') return undefined;
  return { time, fn, instance, ...(call !== undefined ? { call } : {}), stream, line };
}
