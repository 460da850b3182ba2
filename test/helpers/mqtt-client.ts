/**
 * The test side of MQTT, with mqtt.js: publish, and collect what arrives on a topic with a wait
 * that resolves on the message event (bounded), never on a timer.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { TernProcess } from './node.js';

export interface Received {
  topic: string;
  payload: string;
}

export class Collector {
  readonly messages: Received[] = [];
  private waiters: (() => void)[] = [];

  private constructor(private readonly client: MqttClient) {
    client.on('message', (topic, payload) => {
      this.messages.push({ topic, payload: payload.toString('utf8') });
      for (const w of this.waiters) w();
    });
  }

  /** Subscribe to `filter` at QoS 1 on a fresh clean session. */
  static async open(url: string, filter: string): Promise<Collector> {
    const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
    const collector = new Collector(client);
    await client.subscribeAsync(filter, { qos: 1 });
    return collector;
  }

  payloads(): string[] {
    return this.messages.map((m) => m.payload);
  }

  /** Resolve once `ok(messages)` holds; reject after `timeoutMs` saying what did arrive. */
  async waitFor(ok: (messages: Received[]) => boolean, timeoutMs = 30_000): Promise<void> {
    if (ok(this.messages)) return;
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!ok(this.messages)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`messages never matched; got ${JSON.stringify(this.payloads())}`));
      }, timeoutMs);
      this.waiters.push(check);
    });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/** Publish and wait for the broker's acknowledgement (QoS 1). */
export async function publish(url: string, topic: string, payloads: string[], qos: 0 | 1 = 1): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  try {
    for (const p of payloads) await client.publishAsync(topic, p, { qos });
  } finally {
    await client.endAsync();
  }
}

export interface MqttInfo {
  broker: string;
  state: string;
  lastError?: string;
  reconnects: number;
  unrouted: number;
  unacknowledged: number;
  triggers: {
    function: string;
    topic: string;
    subscribed: boolean;
    error?: string;
    received: number;
    ok: number;
    failed: number;
    dropped: number;
    replies: number;
  }[];
}

export async function mqttInfo(node: TernProcess): Promise<MqttInfo> {
  const info = (await (await node.api('GET', '/v1/info')).json()) as { triggerStatus?: { mqtt?: MqttInfo } };
  if (info.triggerStatus?.mqtt === undefined) throw new Error(`no mqtt status in /v1/info: ${JSON.stringify(info)}`);
  return info.triggerStatus.mqtt;
}

/** Poll /v1/info (50 ms apart, bounded) until the MQTT status satisfies `ok`; nothing is logged for most of these states. */
export async function waitForMqtt(
  node: TernProcess,
  ok: (info: MqttInfo) => boolean,
  timeoutMs = 30_000,
): Promise<MqttInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await mqttInfo(node);
    if (ok(info)) return info;
    if (Date.now() > deadline) throw new Error(`mqtt status never matched: ${JSON.stringify(info)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every trigger of `fn` subscribed on this connection. */
export const subscribed =
  (fn: string) =>
  (info: MqttInfo): boolean =>
    info.state === 'connected' &&
    info.triggers.some((t) => t.function === fn) &&
    info.triggers.every((t) => t.function !== fn || t.subscribed);
