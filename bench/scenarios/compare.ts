/** Runs a set of HTTP targets (references and Tern functions) against each other in interleaved rounds. */
import { compareLoads, type LoadOptions, type LoadResult } from '../lib/http-load.js';
import { log, reason } from '../lib/log.js';
import type { Measurement, Skipped } from '../lib/schema.js';
import type { ScenarioContext } from './context.js';

export function measurement(
  target: string,
  role: Measurement['role'],
  runtime: string | null,
  r: LoadResult,
): Measurement {
  return {
    target,
    role,
    runtime,
    medianMs: r.medianMs,
    p99Ms: r.p99Ms,
    rps: r.rps,
    requests: r.requests,
    errors: r.errors,
    vs: [],
    extra: {},
  };
}

/** An answer check: the body must contain `text`. */
export function contains(text: string): (status: number, body: string) => string | null {
  return (_status, body) => (body.includes(text) ? null : `the answer lacks ${JSON.stringify(text)}`);
}

export interface HttpTarget {
  target: string;
  role: Measurement['role'];
  runtime: string | null;
  load: Omit<LoadOptions, 'connections'>;
}

export async function compareTargets(
  ctx: ScenarioContext,
  scenario: string,
  targets: HttpTarget[],
): Promise<{ rows: Measurement[]; skipped: Skipped[] }> {
  const { plan } = ctx;
  log(
    `${scenario}: ${targets.map((t) => t.target).join(', ')} — ${plan.rounds} round(s) of ${plan.durationMs / plan.rounds / 1000} s each`,
  );
  const outcomes = await compareLoads(
    targets.map((t) => ({ ...t.load, connections: plan.connections })),
    { warmupMs: plan.warmupMs, rounds: plan.rounds, roundMs: plan.durationMs / plan.rounds },
  );
  const rows: Measurement[] = [];
  const skipped: Skipped[] = [];
  outcomes.forEach((o, i) => {
    const t = targets[i]!;
    if (o.ok) rows.push(measurement(t.target, t.role, t.runtime, o.result));
    else skipped.push({ target: t.target, reason: reason(o.error) });
  });
  return { rows, skipped };
}
