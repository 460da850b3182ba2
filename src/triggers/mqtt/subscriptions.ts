/**
 * Which subscriptions the node's broker session should hold: one shared subscription per MQTT
 * trigger of every deployed function, `$share/<group>.<function>/<topic>`, so the nodes of a cluster
 * (same group) share each function's messages and each runs once. Each carries an MQTT 5
 * subscription identifier, derived from function and topic, that tells which trigger a message
 * came for even when the filters of two functions overlap.
 *
 * The session outlives the process, so the filters it may hold are kept in `<data>/mqtt/
 * subscriptions.json`: a trigger removed while the node was down is unsubscribed when it comes back.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../../registry/atomic-file.js';
import type { DeployedFunction } from '../../registry/registry.js';
import type { MqttTriggerSpec } from '../../registry/mqtt-spec.js';

/** Subscription identifiers are 1 .. 268,435,455 (a variable byte integer, MQTT 5 §3.8.2.1.2). */
const MAX_SUBSCRIPTION_ID = 268_435_455;

export interface Subscription {
  readonly id: number;
  readonly function: string;
  readonly spec: MqttTriggerSpec;
  /** What is sent in SUBSCRIBE: the shared form of spec.topic. */
  readonly filter: string;
}

function preferredId(fn: string, topic: string): number {
  const digest = createHash('sha256').update(`${fn}\n${topic}`).digest();
  return (digest.readUInt32BE(0) % MAX_SUBSCRIPTION_ID) + 1;
}

/** The subscriptions for these functions, in a stable order (so a collision resolves the same way every time). */
export function desiredSubscriptions(functions: readonly DeployedFunction[], group: string): Subscription[] {
  const triggers = functions
    .flatMap((f) => f.spec.triggers.mqtt.map((spec) => ({ fn: f.spec.name, spec })))
    .sort((a, b) => (a.fn === b.fn ? (a.spec.topic < b.spec.topic ? -1 : 1) : a.fn < b.fn ? -1 : 1));
  const taken = new Set<number>();
  return triggers.map(({ fn, spec }) => {
    let id = preferredId(fn, spec.topic);
    while (taken.has(id)) id = (id % MAX_SUBSCRIPTION_ID) + 1;
    taken.add(id);
    return { id, function: fn, spec, filter: `$share/${group}.${fn}/${spec.topic}` };
  });
}

/** The filters a broker session may hold, kept across restarts. */
export class SessionFilters {
  private filters = new Set<string>();

  constructor(private readonly path: string) {}

  async load(): Promise<void> {
    try {
      const parsed: unknown = JSON.parse(await readFile(this.path, 'utf8'));
      if (Array.isArray(parsed)) this.filters = new Set(parsed.filter((f): f is string => typeof f === 'string'));
    } catch {
      // Absent or unreadable: nothing known to clean up.
    }
  }

  list(): string[] {
    return [...this.filters];
  }

  /** Record a change; resolves once it is on disk. */
  async update(added: Iterable<string>, removed: Iterable<string>): Promise<void> {
    const next = new Set(this.filters);
    for (const f of added) next.add(f);
    for (const f of removed) next.delete(f);
    if (next.size === this.filters.size && [...next].every((f) => this.filters.has(f))) return;
    this.filters = next;
    await mkdir(dirname(this.path), { recursive: true });
    await writeFileAtomic(this.path, JSON.stringify([...next].sort()));
  }
}
