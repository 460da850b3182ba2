/** The node config's `[workflows]` block: the bounds every workflow and run stays within. */
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';

export interface WorkflowLimits {
  /** States in one definition, nested branches and processors included. */
  maxStates: number;
  /** Items one Map state takes. */
  maxMapItems: number;
  /** Items a Map runs at once (its MaxConcurrency, when lower, wins). */
  maxMapConcurrency: number;
  /** A run's input and output and every payload between states, bytes (as JSON). */
  maxPayloadBytes: number;
  /** A run's time, whatever its TimeoutSeconds says. */
  maxRunMs: number;
  /** Runs in progress on the node at once (sync and async); past it a new run gets 429. */
  maxRunning: number;
  /** State reports kept in one run's report (a large Map would otherwise grow it without bound). */
  maxStateReports: number;
}

export const DEFAULT_WORKFLOW_LIMITS: WorkflowLimits = {
  maxStates: 500,
  maxMapItems: 10_000,
  maxMapConcurrency: 100,
  maxPayloadBytes: 256 * 1024,
  maxRunMs: 3_600_000,
  maxRunning: 1000,
  maxStateReports: 200,
};

const count = z.coerce.number().int().min(1);
const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const msValue = parseDuration(v);
  if (msValue === undefined || msValue <= 0) {
    ctx.addIssue({ code: 'custom', message: `not a duration: ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return msValue;
});

const d = DEFAULT_WORKFLOW_LIMITS;
export const workflowsConfigSchema = z
  .object({
    'max-states': count.default(d.maxStates),
    'max-map-items': count.default(d.maxMapItems),
    'max-map-concurrency': count.default(d.maxMapConcurrency),
    'max-payload': count.default(d.maxPayloadBytes),
    'max-run-time': duration.default(d.maxRunMs),
    'max-running': count.default(d.maxRunning),
    'max-state-reports': count.default(d.maxStateReports),
  })
  .strict()
  .prefault({});

export function workflowLimits(c: z.output<typeof workflowsConfigSchema>): WorkflowLimits {
  return {
    maxStates: c['max-states'],
    maxMapItems: c['max-map-items'],
    maxMapConcurrency: c['max-map-concurrency'],
    maxPayloadBytes: c['max-payload'],
    maxRunMs: c['max-run-time'],
    maxRunning: c['max-running'],
    maxStateReports: c['max-state-reports'],
  };
}
