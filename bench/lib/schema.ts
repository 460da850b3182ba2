/**
 * The results file (bench/results/<date>.json): one schema, checked before it is written and by the
 * test suite, so a scenario that rots shows up as a schema error rather than a silently odd table.
 */
import { z } from 'zod';

export const RESULT_SCHEMA_ID = 'tern-bench/1';

const nonNegative = z.number().finite().nonnegative();
const figure = z.union([z.number().finite(), z.string(), z.boolean(), z.null()]);

export const comparisonSchema = z
  .object({
    reference: z.string().min(1),
    /** throughput: this row's req/s ÷ the reference's; latency: this row's median ÷ the reference's. */
    ratio: nonNegative.nullable(),
  })
  .strict();

export const measurementSchema = z
  .object({
    target: z.string().min(1),
    role: z.enum(['tern', 'reference']),
    runtime: z.string().nullable(),
    medianMs: nonNegative,
    p99Ms: nonNegative,
    /** Completed requests per second (for sequential cold starts: starts per second). */
    rps: nonNegative,
    requests: z.number().int().nonnegative(),
    errors: z.number().int().nonnegative(),
    vs: z.array(comparisonSchema),
    /** Scenario-specific figures (e.g. the client-side latency of a cold call). */
    extra: z.record(z.string(), figure).default({}),
  })
  .strict();

export const skippedSchema = z.object({ target: z.string().min(1), reason: z.string().min(1) }).strict();

const scenarioBase = {
  id: z.string().regex(/^[a-z0-9-]+$/),
  title: z.string().min(1),
  /** How the scenario was run: load, concurrency, what is timed. */
  method: z.string().min(1),
  skipped: z.array(skippedSchema),
};

export const latencyScenarioSchema = z
  .object({
    ...scenarioBase,
    kind: z.literal('latency'),
    ratio: z.enum(['throughput', 'latency']),
    rows: z.array(measurementSchema),
  })
  .strict();

export const memoryRowSchema = z
  .object({
    target: z.string().min(1),
    runtime: z.string(),
    instances: z.number().int().positive(),
    rssPerInstanceMiB: nonNegative,
    pssPerInstanceMiB: nonNegative.nullable(),
    /** How many such idle instances fit in 1 GiB by RSS. null: below what this run could resolve. */
    instancesPerGiB: nonNegative.nullable(),
    /** The same by PSS (shared pages split between their users): closer to what really fits. */
    instancesPerGiBPss: nonNegative.nullable(),
    processesPerInstance: nonNegative,
    nodeRssBeforeMiB: nonNegative,
    nodeRssAfterMiB: nonNegative,
  })
  .strict();

export const memoryScenarioSchema = z
  .object({ ...scenarioBase, kind: z.literal('memory'), rows: z.array(memoryRowSchema) })
  .strict();

export const scenarioSchema = z.discriminatedUnion('kind', [latencyScenarioSchema, memoryScenarioSchema]);

export const componentSchema = z
  .object({
    name: z.string().min(1),
    source: z.string().min(1),
    status: z.enum(['ok', 'skipped']),
    reason: z.string().optional(),
    seconds: nonNegative,
    figures: z.record(z.string(), figure).default({}),
  })
  .strict();

export const goalSchema = z
  .object({
    id: z.string().min(1),
    text: z.string().min(1),
    target: z.string().min(1),
    measured: z.number().finite().nullable(),
    unit: z.string(),
    /** null when the figure was not measured in this run. */
    met: z.boolean().nullable(),
  })
  .strict();

export const machineSchema = z
  .object({
    cores: z.number().int().positive(),
    cpuModel: z.string(),
    memoryMiB: z.number().int().positive(),
    node: z.string(),
    platform: z.string(),
    arch: z.string(),
    kernel: z.string(),
  })
  .strict();

export const resultFileSchema = z
  .object({
    schema: z.literal(RESULT_SCHEMA_ID),
    date: z.string().datetime(),
    quick: z.boolean(),
    elapsedS: nonNegative,
    machine: machineSchema,
    source: z.object({ commit: z.string().nullable(), dirty: z.boolean().nullable() }).strict(),
    scenarios: z.array(scenarioSchema),
    components: z.array(componentSchema),
    goals: z.array(goalSchema),
  })
  .strict();

export type Comparison = z.infer<typeof comparisonSchema>;
export type Measurement = z.input<typeof measurementSchema>;
export type Skipped = z.infer<typeof skippedSchema>;
export type LatencyScenario = z.input<typeof latencyScenarioSchema>;
export type MemoryRow = z.infer<typeof memoryRowSchema>;
export type MemoryScenario = z.infer<typeof memoryScenarioSchema>;
export type Scenario = z.input<typeof scenarioSchema>;
export type Component = z.input<typeof componentSchema>;
export type Goal = z.infer<typeof goalSchema>;
export type ResultFile = z.output<typeof resultFileSchema>;
export type ResultFileInput = z.input<typeof resultFileSchema>;
