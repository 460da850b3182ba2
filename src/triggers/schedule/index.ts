/**
 * The schedule trigger: `[[triggers.schedule]] every = "10s"` or `cron = "0 * * * *"` runs the
 * function (POST "/", empty body, the slot's time in header `schedule-time`). In a cluster each slot
 * runs on one node (claims.ts); a slot missed while no node was up is run once at start only with
 * `catch-up = true`. A slot that comes while the schedule's previous run is still going on this node
 * is skipped here (another node may take it). See docs/triggers.md.
 */
import type { Logger } from 'pino';
import { Counter, type Registry as MetricsRegistry } from 'prom-client';
import { createInvocation } from '../../core/invocation.js';
import type { Trigger, TriggerContext } from '../trigger.js';
import { EtcdClaims, LocalClaims, type SlotClaims } from './claims.js';
import { describeSchedule, scheduleKey, type ScheduleSpec } from '../../registry/schedule-spec.js';
import { ScheduleTiming } from './timing.js';

export interface ScheduleTriggerOptions {
  nodeName: string;
  /** Holds `schedules.json` (catch-up records of a node outside a cluster). */
  dataDir: string;
  /** The cluster's etcd: each slot then runs on one node. Empty: this node decides alone. */
  etcd: string[];
  metrics?: MetricsRegistry;
}

/** setTimeout's limit (~24.8 days); a later slot is reached in several waits. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const STOP_WAIT_MS = 2_000;

export interface ScheduleCounts {
  /** Slots run by this node, by the call's outcome. */
  ok: number;
  failed: number;
  /** Slots another node claimed. */
  elsewhere: number;
  /** Slots not run here because this schedule's previous run was still going. */
  skipped: number;
  /** Slots lost because the claim could not be made (etcd unreachable). */
  errors: number;
}

interface Entry {
  readonly function: string;
  readonly spec: ScheduleSpec;
  /** The claim record's name: function and what the schedule fires on. */
  readonly key: string;
  readonly timing: ScheduleTiming;
  readonly counts: ScheduleCounts;
  timer?: NodeJS.Timeout;
  next?: number;
  running: number;
  lastRun?: { at: string; status: number };
}

export interface ScheduleStatus {
  coordination: 'etcd' | 'local';
  schedules: (ScheduleCounts & {
    function: string;
    schedule: string;
    catchUp: boolean;
    next?: string;
    lastRun?: { at: string; status: number };
  })[];
}

export function createScheduleTrigger(options: ScheduleTriggerOptions): Trigger & { status(): ScheduleStatus } {
  return new ScheduleTrigger(options);
}

class ScheduleTrigger implements Trigger {
  readonly name = 'schedule';
  private ctx: TriggerContext | undefined;
  private logger: Logger | undefined;
  private claims: SlotClaims | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly entries = new Map<string, Entry>();
  private readonly runs = new Set<Promise<void>>();
  private claimsFailing = false;
  private stopped = false;

  constructor(private readonly o: ScheduleTriggerOptions) {
    if (o.metrics) this.registerMetrics(o.metrics);
  }

  async start(ctx: TriggerContext): Promise<void> {
    if (this.ctx !== undefined) throw new Error('schedule trigger already started');
    this.ctx = ctx;
    this.logger = ctx.logger.child({ trigger: 'schedule' });
    if (this.o.etcd.length > 0) this.claims = new EtcdClaims(this.o.etcd, this.o.nodeName);
    else {
      const local = new LocalClaims(`${this.o.dataDir}/schedules.json`);
      await local.open();
      this.claims = local;
    }
    this.unsubscribe = ctx.registry.subscribe(() => this.refresh());
    this.refresh();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const entry of this.entries.values()) clearTimeout(entry.timer);
    this.entries.clear();
    await waitAtMost(Promise.all(this.runs), STOP_WAIT_MS);
    await this.claims?.close();
  }

  address(): undefined {
    return undefined;
  }

  status(): ScheduleStatus {
    return {
      coordination: this.claims?.kind ?? (this.o.etcd.length > 0 ? 'etcd' : 'local'),
      schedules: [...this.entries.values()].map((e) => ({
        function: e.function,
        schedule: describeSchedule(e.spec),
        catchUp: e.spec.catchUp,
        ...(e.next !== undefined ? { next: new Date(e.next).toISOString() } : {}),
        ...(e.lastRun !== undefined ? { lastRun: e.lastRun } : {}),
        ...e.counts,
      })),
    };
  }

  /** Follow the registry: new schedules start, removed ones stop, unchanged ones keep their timers. */
  private refresh(): void {
    const ctx = this.ctx;
    if (ctx === undefined || this.stopped) return;
    const wanted = new Map<string, { fn: string; spec: ScheduleSpec }>();
    for (const f of ctx.registry.list())
      for (const spec of f.spec.triggers.schedule)
        wanted.set(`${f.spec.name}/${scheduleKey(spec)}`, { fn: f.spec.name, spec });
    const gone: string[] = [];
    for (const [key, entry] of this.entries) {
      if (wanted.has(key)) continue;
      clearTimeout(entry.timer);
      this.entries.delete(key);
      gone.push(key);
    }
    if (gone.length > 0) this.claims?.forget(gone).catch(() => undefined);
    for (const [key, { fn, spec }] of wanted) {
      if (this.entries.has(key)) continue;
      const entry: Entry = {
        function: fn,
        spec,
        key,
        timing: new ScheduleTiming(spec),
        counts: { ok: 0, failed: 0, elsewhere: 0, skipped: 0, errors: 0 },
        running: 0,
      };
      this.entries.set(key, entry);
      this.logger?.info(
        { event: 'schedule', function: fn, schedule: describeSchedule(spec) },
        `schedule: ${fn} runs ${describeSchedule(spec)}`,
      );
      if (spec.catchUp) this.track(this.catchUp(entry));
      this.arm(entry);
    }
  }

  private arm(entry: Entry): void {
    if (this.entries.get(entry.key) !== entry) return;
    const now = Date.now();
    const slot = entry.next !== undefined && entry.next > now ? entry.next : entry.timing.next(now);
    entry.next = slot;
    if (slot === undefined) return;
    entry.timer = setTimeout(() => this.wake(entry), Math.min(Math.max(slot - now, 1), MAX_TIMER_MS));
    entry.timer.unref();
  }

  private wake(entry: Entry): void {
    const slot = entry.next;
    if (slot === undefined || this.entries.get(entry.key) !== entry) return;
    if (Date.now() < slot) return this.arm(entry);
    entry.next = undefined;
    this.track(this.fire(entry, slot, false));
    this.arm(entry);
  }

  /** At start: the last slot before now was claimed by no node, and an earlier one was: run once for the gap. */
  private async catchUp(entry: Entry): Promise<void> {
    try {
      const last = await this.claims!.last(entry.key);
      const previous = entry.timing.previous(Date.now());
      if (last === undefined || previous === undefined || previous <= last) return;
      this.logger?.info(
        { event: 'schedule_catch_up', function: entry.function, last: new Date(last).toISOString() },
        `schedule: ${entry.function} missed runs since ${new Date(last).toISOString()}; running once to catch up`,
      );
      await this.fire(entry, previous, true);
    } catch (e) {
      this.claimFailed(entry, e);
    }
  }

  private async fire(entry: Entry, slot: number, catchUp: boolean): Promise<void> {
    if (entry.running > 0) {
      entry.counts.skipped++;
      return;
    }
    entry.running++;
    try {
      let won: boolean;
      try {
        won = await this.claims!.claim(entry.key, slot, entry.spec.catchUp);
      } catch (e) {
        this.claimFailed(entry, e);
        return;
      }
      this.claimsRecovered();
      if (!won) {
        entry.counts.elsewhere++;
        return;
      }
      await this.run(entry, slot, catchUp);
    } finally {
      entry.running--;
    }
  }

  private async run(entry: Entry, slot: number, catchUp: boolean): Promise<void> {
    const inv = createInvocation({
      function: entry.function,
      method: 'POST',
      path: '/',
      headers: { 'schedule-time': new Date(slot).toISOString(), ...(catchUp ? { 'schedule-catch-up': 'true' } : {}) },
      trigger: 'schedule',
      // Bound in the function's own function.toml by whoever deployed it with the token.
      authenticated: true,
    });
    const result = await this.ctx!.invoke(inv);
    entry.lastRun = { at: new Date(slot).toISOString(), status: result.status };
    if (result.status >= 200 && result.status < 300) entry.counts.ok++;
    else {
      entry.counts.failed++;
      this.logger?.debug(
        { event: 'schedule_call', function: entry.function, status: result.status, error: result.report.error },
        `schedule: ${entry.function} answered ${result.status}`,
      );
    }
  }

  /** One warning per outage of the claim store; the slots it costs are counted as errors. */
  private claimFailed(entry: Entry, e: unknown): void {
    entry.counts.errors++;
    if (this.claimsFailing) return;
    this.claimsFailing = true;
    this.logger?.warn(
      { event: 'schedule_claim_failed', function: entry.function, err: (e as Error).message },
      `schedule: cannot claim a run of ${entry.function} (${(e as Error).message}); slots are skipped until it works again`,
    );
  }

  private claimsRecovered(): void {
    if (!this.claimsFailing) return;
    this.claimsFailing = false;
    this.logger?.info({ event: 'schedule_claims_ok' }, 'schedule: claims work again');
  }

  private track(work: Promise<void>): void {
    const tracked = work.finally(() => this.runs.delete(tracked));
    this.runs.add(tracked);
  }

  private registerMetrics(register: MetricsRegistry): void {
    const entries = this.entries;
    new Counter({
      name: 'tern_schedule_slots_total',
      help: 'Schedule slots, by outcome: ok and failed (run here), elsewhere (claimed by another node), skipped (previous run still going), error (no claim possible).',
      labelNames: ['function', 'schedule', 'outcome'] as const,
      registers: [register],
      collect() {
        this.reset();
        for (const e of entries.values()) {
          const labels = { function: e.function, schedule: describeSchedule(e.spec) };
          const c = e.counts;
          for (const [outcome, n] of Object.entries({
            ok: c.ok,
            failed: c.failed,
            elsewhere: c.elsewhere,
            skipped: c.skipped,
            error: c.errors,
          }))
            this.inc({ ...labels, outcome }, n);
        }
      },
    });
  }
}

async function waitAtMost(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
