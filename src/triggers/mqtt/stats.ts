/**
 * What the MQTT trigger counts, per subscription (function + topic filter), and its Prometheus
 * view: counters read from these numbers at scrape time, so a removed trigger's series go with it.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

export interface SubscriptionCounts {
  /** Messages that reached the node for this trigger (redeliveries of a call already made excluded). */
  received: number;
  /** Calls that answered 2xx. */
  ok: number;
  /** Calls that answered otherwise (the function's error, a timeout, a refusal, a payload over the limit). */
  failed: number;
  /** QoS 0 messages dropped because the backlog was full, or the node was stopping. */
  dropped: number;
  /** Replies published (acknowledged by the broker for QoS 1). */
  replies: number;
  /** Replies that could not be published (no connection for QoS 0, the client closed). */
  replyFailures: number;
}

export const zeroCounts = (): SubscriptionCounts => ({
  received: 0,
  ok: 0,
  failed: 0,
  dropped: 0,
  replies: 0,
  replyFailures: 0,
});

export interface CountedTrigger {
  function: string;
  topic: string;
  counts: SubscriptionCounts;
}

export interface MqttMetricsSource {
  triggers(): CountedTrigger[];
  connected(): boolean;
  reconnects(): number;
}

type Pick = (c: SubscriptionCounts) => number;

/** Registers the MQTT series on the node's metrics registry. */
export function registerMqttMetrics(register: Registry, source: MqttMetricsSource): void {
  const registers = [register];
  /** One counter per family; `values` is one number per trigger, or one per outcome label. */
  const counter = (name: string, help: string, values: Pick | Record<string, Pick>) =>
    new Counter({
      name,
      help,
      labelNames: typeof values === 'function' ? ['function', 'topic'] : ['function', 'topic', 'outcome'],
      registers,
      collect() {
        this.reset();
        for (const t of source.triggers()) {
          const labels = { function: t.function, topic: t.topic };
          if (typeof values === 'function') this.inc(labels, values(t.counts));
          else for (const [outcome, pick] of Object.entries(values)) this.inc({ ...labels, outcome }, pick(t.counts));
        }
      },
    });
  counter('tern_mqtt_messages_total', 'MQTT messages received per trigger.', (c) => c.received);
  counter('tern_mqtt_calls_total', 'Calls made for MQTT messages, by outcome (ok: 2xx, failed, dropped).', {
    ok: (c) => c.ok,
    failed: (c) => c.failed,
    dropped: (c) => c.dropped,
  });
  counter('tern_mqtt_replies_total', 'Replies published to reply topics, by outcome.', {
    published: (c) => c.replies,
    failed: (c) => c.replyFailures,
  });
  new Gauge({
    name: 'tern_mqtt_connected',
    help: 'Whether the node is connected to its MQTT broker (1) or not (0).',
    registers,
    collect() {
      this.set(source.connected() ? 1 : 0);
    },
  });
  new Counter({
    name: 'tern_mqtt_reconnects_total',
    help: 'Attempts to reconnect to the MQTT broker.',
    registers,
    collect() {
      this.reset();
      this.inc(source.reconnects());
    },
  });
}
