/**
 * Durations in config, function.toml and the compat APIs: "250ms", "10s", "5m", "1h", "2d", or a bare
 * number of seconds. Every duration Tern reads has a range: a value outside it is refused naming
 * the key and the range, because Node's timers overflow past 2^31-1 ms (a timer set for longer
 * fires at once) and a zero timeout fails every call.
 */
import { z } from 'zod';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export const SECOND_MS = 1000;
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** The longest delay setTimeout honours; every range stays well under it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Inclusive bounds in milliseconds. */
export interface DurationRange {
  minMs: number;
  maxMs: number;
}

/** Syntax only: milliseconds, or undefined when `value` is not a duration. Negative values parse (then fail a range). */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isNaN(value) ? undefined : value * 1000;
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2] ?? 's']!;
}

export function formatDuration(msValue: number): string {
  if (msValue % HOUR_MS === 0 && msValue > 0) return `${msValue / HOUR_MS}h`;
  if (msValue % MINUTE_MS === 0 && msValue > 0) return `${msValue / MINUTE_MS}m`;
  if (msValue % SECOND_MS === 0) return `${msValue / SECOND_MS}s`;
  return `${msValue}ms`;
}

/** Whole days above one read better as days: "7d", not "168h". */
function formatBound(msValue: number): string {
  if (msValue === 0) return '0';
  return msValue > DAY_MS && msValue % DAY_MS === 0 ? `${msValue / DAY_MS}d` : formatDuration(msValue);
}

/** "1ms to 24h" */
export function describeRange(range: DurationRange): string {
  return `${formatBound(range.minMs)} to ${formatBound(range.maxMs)}`;
}

export type DurationCheck = { ok: true; ms: number } | { ok: false; message: string };

/** Parse and bound one duration; the message names the value and the allowed range, never the key. */
export function checkDuration(value: unknown, range: DurationRange): DurationCheck {
  if (range.maxMs >= MAX_TIMER_MS || range.minMs < 0)
    throw new RangeError(`bad duration range ${describeRange(range)}`);
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  const ms = typeof value === 'string' || typeof value === 'number' ? parseDuration(value) : undefined;
  if (ms === undefined)
    return {
      ok: false,
      message: `not a duration: ${shown} (use e.g. "500ms", "10s", "5m", "1h" or seconds as a number; allowed ${describeRange(range)})`,
    };
  if (!(ms >= range.minMs && ms <= range.maxMs))
    return { ok: false, message: `${shown} is out of range (allowed ${describeRange(range)})` };
  return { ok: true, ms };
}

/** A zod field for a bounded duration (string or number of seconds) that outputs milliseconds. */
export function durationField(range: DurationRange): z.ZodType<number, unknown> {
  // z.unknown(): infinities, NaN and other types get this message too, not zod's "Invalid input".
  return z.unknown().transform((v, ctx) => {
    const checked = checkDuration(v, range);
    if (!checked.ok) {
      ctx.addIssue({ code: 'custom', message: checked.message });
      return z.NEVER;
    }
    return checked.ms;
  });
}
