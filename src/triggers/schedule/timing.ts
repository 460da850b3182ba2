/**
 * When a schedule fires. Times are epoch ms; every node computes the same slots (`every` counts
 * from the Unix epoch, cron reads its fields in the schedule's time zone), which is what lets the
 * nodes of a cluster agree on "this slot" and run it once (claims.ts).
 */
import type { Cron } from 'croner';
import { cronOf, type ScheduleSpec } from '../../registry/schedule-spec.js';

export class ScheduleTiming {
  private readonly cron: Cron | undefined;

  constructor(private readonly spec: ScheduleSpec) {
    this.cron = spec.cron !== undefined ? cronOf(spec.cron, spec.timezone) : undefined;
  }

  /** The first slot strictly after `afterMs`; undefined when a cron expression has no later time. */
  next(afterMs: number): number | undefined {
    const every = this.spec.everyMs;
    if (every !== undefined) return (Math.floor(afterMs / every) + 1) * every;
    return this.cron?.nextRun(new Date(afterMs))?.getTime();
  }

  /** The last slot at or before `atMs`. */
  previous(atMs: number): number | undefined {
    const every = this.spec.everyMs;
    if (every !== undefined) return Math.floor(atMs / every) * every;
    return this.cron?.previousRuns(1, new Date(atMs + 1))[0]?.getTime();
  }
}
