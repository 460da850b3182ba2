/**
 * function.toml's `[[triggers.mqtt]]` tables: the schema src/registry/spec.ts uses, and their
 * normalised form in FunctionSpec.triggers.mqtt.
 */
import { z } from 'zod';
import { filterProblem, topicNameProblem } from './mqtt-topic.js';

/** One function's MQTT triggers: bounded, so a spec cannot make the node hold thousands of subscriptions. */
export const MAX_MQTT_TRIGGERS = 16;

export interface MqttTriggerSpec {
  /** Topic filter, `+` and `#` allowed ("sensors/+/temp"). */
  topic: string;
  /** Where a successful call's response body is published. */
  reply?: string;
  /** 1: at least once (acknowledged when the call has finished); 0: at most once. */
  qos: 0 | 1;
}

const checked = (problem: (v: string) => string | undefined) =>
  z.string().superRefine((v, ctx) => {
    const p = problem(v);
    if (p !== undefined) ctx.addIssue({ code: 'custom', message: p });
  });

const mqttTable = z
  .object({
    topic: checked(filterProblem),
    reply: checked(topicNameProblem).optional(),
    qos: z.union([z.literal(0), z.literal(1)], { error: 'must be 0 or 1' }).default(1),
  })
  .strict();

/** `[[triggers.mqtt]]` (an array of tables; a single `[triggers.mqtt]` table is taken as one). */
export const mqttTriggersSchema = z.preprocess(
  (v) => (v !== null && typeof v === 'object' && !Array.isArray(v) ? [v] : v),
  z
    .array(mqttTable)
    .max(MAX_MQTT_TRIGGERS)
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      for (const [i, t] of list.entries()) {
        if (seen.has(t.topic))
          ctx.addIssue({ code: 'custom', path: [i, 'topic'], message: `"${t.topic}" is declared twice` });
        seen.add(t.topic);
      }
    })
    .transform((list) => list.map(normalise)),
);

function normalise(t: z.output<typeof mqttTable>): MqttTriggerSpec {
  return { topic: t.topic, qos: t.qos, ...(t.reply !== undefined ? { reply: t.reply } : {}) };
}
