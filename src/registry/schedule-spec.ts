/**
 * function.toml's `[[triggers.schedule]]` tables: `every = "10s"` or `cron = "0 * * * *"`, the
 * schema src/registry/spec.ts uses, and their normalised form in FunctionSpec.triggers.schedule.
 */
import { createHash } from 'node:crypto';
import { Cron } from 'croner';
import { z } from 'zod';
import { formatDuration, parseDuration } from '../core/duration.js';

export const MAX_SCHEDULES = 16;
/** Below a second, timers and the cluster's claim round trip are the schedule. */
export const MIN_EVERY_MS = 1_000;
/** 366 days: every schedule fires at least once a year. */
export const MAX_EVERY_MS = 366 * 24 * 3_600_000;

export interface ScheduleSpec {
  /** A fixed period (ms), its slots aligned to the Unix epoch so every node computes the same ones. */
  everyMs?: number;
  /** A cron expression: 5 fields, or 6 with seconds first. */
  cron?: string;
  /** IANA time zone of `cron`'s fields; UTC when absent. */
  timezone?: string;
  /** After the node (the cluster) was down, run once for the slots missed. */
  catchUp: boolean;
}

/** A croner job for an expression (never started: Tern only asks it for times). Throws on a bad one. */
export function cronOf(expression: string, timezone: string | undefined): Cron {
  return new Cron(expression, { paused: true, timezone: timezone ?? 'UTC', mode: '5-or-6-parts' });
}

function timezoneProblem(tz: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return undefined;
  } catch {
    return `unknown time zone ${JSON.stringify(tz)} (use an IANA name such as "Europe/Berlin")`;
  }
}

const scheduleTable = z
  .object({
    every: z.union([z.string(), z.number()]).optional(),
    cron: z.string().max(200).optional(),
    timezone: z.string().max(100).optional(),
    'catch-up': z.boolean().default(false),
  })
  .strict()
  .transform((t, ctx): ScheduleSpec => {
    const issue = (key: string, message: string) => {
      ctx.addIssue({ code: 'custom', path: [key], message });
      return z.NEVER;
    };
    if ((t.every === undefined) === (t.cron === undefined))
      return issue('every', 'give exactly one of every = "10s" and cron = "*/5 * * * *"');
    if (t.timezone !== undefined) {
      if (t.cron === undefined) return issue('timezone', 'only applies to cron');
      const p = timezoneProblem(t.timezone);
      if (p !== undefined) return issue('timezone', p);
    }
    const base = { catchUp: t['catch-up'], ...(t.timezone !== undefined ? { timezone: t.timezone } : {}) };
    if (t.cron !== undefined) {
      try {
        cronOf(t.cron, t.timezone);
      } catch (e) {
        return issue('cron', `not a cron expression: ${(e as Error).message.replace(/^CronPattern: /, '')}`);
      }
      return { ...base, cron: t.cron.trim() };
    }
    const ms = parseDuration(t.every!);
    if (ms === undefined || ms < MIN_EVERY_MS || ms > MAX_EVERY_MS || !Number.isInteger(ms))
      return issue('every', `${JSON.stringify(t.every)} must be a whole number of ms from 1s to 366 days`);
    return { ...base, everyMs: ms };
  });

/** `[[triggers.schedule]]` (an array of tables; a single `[triggers.schedule]` table is taken as one). */
export const scheduleTriggersSchema = z.preprocess(
  (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? [v] : v),
  z
    .array(scheduleTable)
    .max(MAX_SCHEDULES)
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      for (const [i, s] of list.entries()) {
        const key = scheduleKey(s);
        if (seen.has(key))
          ctx.addIssue({ code: 'custom', path: [i], message: `${describeSchedule(s)} is declared twice` });
        seen.add(key);
      }
    }),
);

/** "every 10s" or "cron 0 * * * * (UTC)", for logs, /v1/info and metrics. */
export function describeSchedule(s: ScheduleSpec): string {
  return s.everyMs !== undefined ? `every ${formatDuration(s.everyMs)}` : `cron ${s.cron} (${s.timezone ?? 'UTC'})`;
}

/** A stable short key of what a schedule fires on: names its claim record, whatever its place in the list. */
export function scheduleKey(s: ScheduleSpec): string {
  return createHash('sha256').update(describeSchedule(s)).digest('hex').slice(0, 16);
}
