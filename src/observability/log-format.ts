/**
 * The node log for people: one short line per entry ("07:14:12 INFO  runtime python available"),
 * coloured on a terminal. The JSON lines stay the default wherever stdout is not a terminal, and
 * whenever `--log-format json` asks for them: collectors and `jq` read those.
 */
import { writeSync } from 'node:fs';
import type { DestinationStream } from 'pino';
import type { LogFormat } from '../core/log-formats.js';

export { LOG_FORMATS, type LogFormat } from '../core/log-formats.js';

/** Fields every line has, or that the line's text already says. */
const SHOWN_ELSEWHERE = new Set(['level', 'time', 'node', 'pid', 'msg', 'event', 'err']);
const MAX_VALUE_CHARS = 80;
const COLOUR: Record<string, string> = { error: '31', fatal: '31', warn: '33', debug: '2', trace: '2' };

/** Whether `format` means the readable lines on this stdout. */
export function wantsPretty(format: LogFormat, stdoutIsTty = process.stdout.isTTY === true): boolean {
  return format === 'pretty' || (format === 'auto' && stdoutIsTty);
}

function shortValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  const oneLine = (text ?? '').replace(/\s+/g, ' ');
  return oneLine.length > MAX_VALUE_CHARS ? `${oneLine.slice(0, MAX_VALUE_CHARS - 1)}…` : oneLine;
}

/** One JSON log entry as a readable line (several for an error's stack). */
export function formatEntry(entry: Record<string, unknown>, colour: boolean): string {
  const level = String(entry.level ?? 'info');
  const time = typeof entry.time === 'string' ? entry.time.slice(11, 19) : '';
  const tag = level.toUpperCase().padEnd(5);
  const code = COLOUR[level];
  const shownTag = colour && code ? `\u001b[${code}m${tag}\u001b[0m` : tag;
  const extras = Object.entries(entry)
    .filter(([k, v]) => !SHOWN_ELSEWHERE.has(k) && v !== undefined && v !== null)
    .map(([k, v]) => `${k}=${shortValue(v)}`);
  // Extra fields are for debugging: at info and above the message says what matters.
  const detail = level === 'debug' || level === 'trace' ? extras : [];
  let line = `${time} ${shownTag} ${String(entry.msg ?? '')}${detail.length ? `  ${detail.join(' ')}` : ''}`;
  const err = entry.err as { stack?: unknown; message?: unknown } | string | undefined;
  if (typeof err === 'string') {
    if (!String(entry.msg ?? '').includes(err)) line += `: ${err}`;
  } else if (err && typeof err.stack === 'string') line += `\n${err.stack.replace(/^/gm, '    ')}`;
  return `${line}\n`;
}

/** A pino destination writing readable lines to stdout, synchronously (nothing lost at exit). */
export function prettyDestination(colour = process.stdout.isTTY === true): DestinationStream {
  return {
    write(chunk: string) {
      for (const text of chunk.split('\n')) {
        if (text === '') continue;
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(text) as Record<string, unknown>;
        } catch {
          writeSync(1, `${text}\n`);
          continue;
        }
        writeSync(1, formatEntry(entry, colour));
      }
    },
  };
}
