/**
 * The MQTT trigger: functions declare `[[triggers.mqtt]] topic = "sensors/+/temp"` and each message
 * published there runs them (POST "/", the payload as body, the topic in header `mqtt-topic`); an
 * optional `reply` topic gets the response body. See docs/triggers.md.
 *
 * One broker connection per node (connection.ts), one shared subscription per trigger
 * (subscriptions.ts), QoS 1 acknowledged only after the call (acks.ts). It only translates: the
 * node's invoke holds every policy (queues, limits, private functions).
 */
import type { IPublishPacket } from 'mqtt';
import type { Logger } from 'pino';
import type { Registry as MetricsRegistry } from 'prom-client';
import { createInvocation } from '../../core/invocation.js';
import type { Trigger, TriggerContext } from '../trigger.js';
import { AckQueue, type Delivery } from './acks.js';
import { Backlog } from './backlog.js';
import type { MqttConfig } from '../../config/mqtt.js';
import { BrokerConnection, brokerLabel } from './connection.js';
import { registerMqttMetrics, zeroCounts, type CountedTrigger, type SubscriptionCounts } from './stats.js';
import { desiredSubscriptions, SessionFilters, type Subscription } from './subscriptions.js';
import { topicMatches } from './topic.js';
import { headerText } from '../../core/headers.js';

export interface MqttTriggerOptions {
  config: MqttConfig;
  nodeName: string;
  /** Holds `mqtt/subscriptions.json`. */
  dataDir: string;
  /** How long `stop` lets running calls finish (their messages are then acknowledged). */
  drainMs: number;
  /** The node's Prometheus registry; absent: no MQTT series. */
  metrics?: MetricsRegistry;
}

/** Room in a packet beside the payload: topic (≤ 64 KiB) and properties. */
const PACKET_OVERHEAD_BYTES = 128 * 1024;
/** MQTT's largest packet (a 4-byte variable length). */
const MAX_PACKET_BYTES = 268_435_455;
const CLOSE_WAIT_MS = 2_000;
/** Messages waiting for a turn beyond max-in-flight: at most 64 per slot, and 64 MiB of payload. */
const BACKLOG_PER_SLOT = 64;
const BACKLOG_BYTES = 64 * 1024 * 1024;

export { mqttWithoutBroker, refuseMqttTriggers } from './absent.js';

export function createMqttTrigger(options: MqttTriggerOptions): Trigger & { status(): MqttStatus } {
  return new MqttTrigger(options);
}

export interface MqttStatus {
  broker: string;
  clientId: string;
  state: string;
  since: string;
  lastError?: string;
  reconnects: number;
  /** Messages that matched no current trigger (a subscription left from an older deploy). */
  unrouted: number;
  /** QoS 1 messages not yet acknowledged to the broker: their calls are running, or their connection went away. */
  unacknowledged: number;
  /** Messages waiting for one of the max-in-flight turns. */
  backlog: number;
  /** QoS 1 messages left unacknowledged because the backlog was full: the broker delivers them again on the next session. */
  deferred: number;
  triggers: (SubscriptionCounts & {
    function: string;
    topic: string;
    qos: 0 | 1;
    reply?: string;
    subscribed: boolean;
    error?: string;
  })[];
}

interface ActiveSubscription {
  id: number;
  qos: 0 | 1;
  error?: string;
}

class MqttTrigger implements Trigger {
  readonly name = 'mqtt';
  private ctx: TriggerContext | undefined;
  private logger: Logger | undefined;
  private connection: BrokerConnection | undefined;
  private readonly acks: AckQueue;
  private readonly session: SessionFilters;
  private readonly clientId: string;
  private unsubscribe: (() => void) | undefined;
  private desired: Subscription[] = [];
  private byId = new Map<number, Subscription>();
  private readonly counts = new Map<string, SubscriptionCounts>();
  /** What this connection has subscribed, by shared filter. */
  private readonly active = new Map<string, ActiveSubscription>();
  private reconciling: Promise<void> = Promise.resolve();
  private readonly backlog: Backlog;
  private unrouted = 0;
  private deferred = 0;
  private subscriptionIds = true;
  private stopping = false;

  constructor(private readonly o: MqttTriggerOptions) {
    this.clientId = o.config.clientId ?? `tern-${o.nodeName}`;
    this.session = new SessionFilters(`${o.dataDir}/mqtt/subscriptions.json`);
    this.acks = new AckQueue((id) => this.connection?.puback(id) ?? false);
    const slots = o.config.maxInFlight;
    this.backlog = new Backlog(slots, slots * BACKLOG_PER_SLOT, BACKLOG_BYTES);
    if (o.metrics) registerMqttMetrics(o.metrics, this.metricsSource());
  }

  async start(ctx: TriggerContext): Promise<void> {
    if (this.ctx !== undefined) throw new Error('mqtt trigger already started');
    this.ctx = ctx;
    const logger = ctx.logger.child({ trigger: 'mqtt' });
    this.logger = logger;
    await this.session.load();
    this.unsubscribe = ctx.registry.subscribe(() => this.refresh());
    this.refresh();
    const maxPacket = Math.min(MAX_PACKET_BYTES, ctx.maxBodyBytes + PACKET_OVERHEAD_BYTES);
    this.connection = new BrokerConnection(this.o.config, this.clientId, maxPacket, logger, {
      connected: (info) => this.onConnected(info.sessionPresent, info.subscriptionIds),
      message: (packet) => this.onMessage(packet),
    });
    await this.connection.open();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.backlog.clear();
    await settleWithin(this.backlog.idle(), this.o.drainMs);
    await settleWithin(this.reconciling, CLOSE_WAIT_MS);
    await this.connection?.close(CLOSE_WAIT_MS);
  }

  address(): string {
    return brokerLabel(this.o.config.url);
  }

  status(): MqttStatus {
    const connection = this.connection?.status() ?? {
      state: 'stopped',
      since: new Date().toISOString(),
      reconnects: 0,
    };
    return {
      broker: this.address(),
      clientId: this.clientId,
      ...connection,
      unrouted: this.unrouted,
      unacknowledged: this.acks.pending,
      backlog: this.backlog.queued,
      deferred: this.deferred,
      triggers: this.desired.map((s) => {
        const active = this.active.get(s.filter);
        return {
          function: s.function,
          topic: s.spec.topic,
          qos: s.spec.qos,
          ...(s.spec.reply !== undefined ? { reply: s.spec.reply } : {}),
          subscribed: active !== undefined && active.error === undefined,
          ...(active?.error !== undefined ? { error: active.error } : {}),
          ...this.countsOf(s),
        };
      }),
    };
  }

  private metricsSource() {
    return {
      triggers: (): CountedTrigger[] =>
        this.desired.map((s) => ({ function: s.function, topic: s.spec.topic, counts: this.countsOf(s) })),
      connected: () => this.connection?.connected === true,
      reconnects: () => this.connection?.status().reconnects ?? 0,
    };
  }

  private countsOf(s: Subscription): SubscriptionCounts {
    const key = `${s.function}\n${s.spec.topic}`;
    let counts = this.counts.get(key);
    if (counts === undefined) {
      counts = zeroCounts();
      this.counts.set(key, counts);
    }
    return counts;
  }

  /** The registry changed: recompute the subscriptions and bring the broker session in line. */
  private refresh(): void {
    const ctx = this.ctx;
    if (ctx === undefined || this.stopping) return;
    this.desired = desiredSubscriptions(ctx.registry.list(), this.o.config.group);
    this.byId = new Map(this.desired.map((s) => [s.id, s]));
    const keep = new Set(this.desired.map((s) => `${s.function}\n${s.spec.topic}`));
    for (const key of this.counts.keys()) if (!keep.has(key)) this.counts.delete(key);
    this.queueReconcile(false);
  }

  private onConnected(sessionPresent: boolean, subscriptionIds: boolean): void {
    this.acks.connected(sessionPresent);
    this.active.clear();
    if (!subscriptionIds && this.subscriptionIds) {
      this.logger?.warn(
        { event: 'mqtt_no_subscription_ids' },
        'mqtt: the broker has no subscription identifiers: messages are routed by topic, so triggers whose filters overlap may each run for one message',
      );
    }
    this.subscriptionIds = subscriptionIds;
    this.queueReconcile(true);
  }

  private queueReconcile(renewAll: boolean): void {
    this.reconciling = this.reconciling
      .then(() => this.reconcile(renewAll))
      .catch((e: unknown) =>
        this.logger?.warn({ event: 'mqtt_subscribe', err: (e as Error).message }, 'mqtt: subscriptions not updated'),
      );
  }

  /** Unsubscribe what no trigger wants (this run's or an earlier one's), subscribe what is missing. */
  private async reconcile(renewAll: boolean): Promise<void> {
    const connection = this.connection;
    if (connection === undefined || !connection.connected || this.stopping) return;
    const wanted = new Map(this.desired.map((s) => [s.filter, s]));
    const removed: string[] = [];
    for (const filter of new Set([...this.session.list(), ...this.active.keys()])) {
      if (wanted.has(filter)) continue;
      if (await connection.unsubscribe(filter)) {
        removed.push(filter);
        this.active.delete(filter);
      }
    }
    const added: string[] = [];
    for (const s of wanted.values()) {
      const now = this.active.get(s.filter);
      if (!renewAll && now !== undefined && now.id === s.id && now.qos === s.spec.qos && now.error === undefined)
        continue;
      const error = await connection.subscribe(s.filter, s.spec.qos, this.subscriptionIds ? s.id : undefined);
      this.active.set(s.filter, { id: s.id, qos: s.spec.qos, ...(error !== undefined ? { error } : {}) });
      if (error === undefined) added.push(s.filter);
      else
        this.logger?.error(
          { event: 'mqtt_subscribe_failed', function: s.function, topic: s.spec.topic, err: error },
          `mqtt: cannot subscribe ${s.function} to "${s.spec.topic}": ${error}`,
        );
    }
    await this.session.update(added, removed);
    if (added.length > 0 || removed.length > 0)
      this.logger?.info(
        { event: 'mqtt_subscriptions', subscribed: added, unsubscribed: removed },
        `mqtt: ${wanted.size} subscription(s) active`,
      );
  }

  /** Messages matching no trigger are acknowledged and counted: they came for a subscription no longer wanted. */
  private route(packet: IPublishPacket): Subscription[] {
    const ids = packet.properties?.subscriptionIdentifier;
    if (ids !== undefined && this.subscriptionIds)
      return (Array.isArray(ids) ? ids : [ids]).flatMap((id) => this.byId.get(id) ?? []);
    return this.desired.filter((s) => topicMatches(s.spec.topic, packet.topic));
  }

  private onMessage(packet: IPublishPacket): void {
    const routes = this.route(packet);
    if (routes.length === 0) this.unrouted++;
    const bytes = packet.payload.length;
    if (packet.qos === 1 && packet.messageId !== undefined) {
      // Not acknowledged while stopping: the broker keeps it for the node's next session.
      if (this.stopping) return;
      const { delivery, fresh } = this.acks.received(packet.messageId, packet.dup);
      if (!fresh) return;
      const job = {
        bytes,
        run: () => this.runAll(routes, packet).finally(() => this.acks.finished(delivery)),
        cancel: () => this.acks.abandon(delivery),
      };
      if (!this.backlog.offer(job)) this.defer(delivery);
      return;
    }
    const drop = () => {
      for (const s of routes) {
        this.countsOf(s).received++;
        this.countsOf(s).dropped++;
      }
    };
    if (this.stopping || !this.backlog.offer({ bytes, run: () => this.runAll(routes, packet), cancel: drop })) drop();
  }

  private defer(delivery: Delivery): void {
    this.acks.abandon(delivery);
    if (this.deferred++ === 0)
      this.logger?.warn(
        { event: 'mqtt_backlog_full' },
        'mqtt: the message backlog is full; QoS 1 messages are left with the broker until the next session',
      );
  }

  private async runAll(routes: Subscription[], packet: IPublishPacket): Promise<void> {
    await Promise.all(
      routes.map((s) =>
        this.runOne(s, packet).catch((e: unknown) => {
          this.countsOf(s).failed++;
          this.logger?.error(
            { event: 'mqtt_call', function: s.function, err: (e as Error).message },
            'mqtt: call failed',
          );
        }),
      ),
    );
  }

  /** One trigger's call for one message, then its reply. */
  private async runOne(s: Subscription, packet: IPublishPacket): Promise<void> {
    const ctx = this.ctx!;
    const counts = this.countsOf(s);
    counts.received++;
    const body = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    if (body.length > ctx.maxBodyBytes) {
      counts.failed++;
      this.logger?.warn(
        { event: 'mqtt_too_large', function: s.function, topic: packet.topic, bytes: body.length },
        `mqtt: a ${body.length}-byte message on "${packet.topic}" is over the body limit (${ctx.maxBodyBytes}); not run`,
      );
      return;
    }
    const contentType = packet.properties?.contentType;
    const inv = createInvocation({
      function: s.function,
      method: 'POST',
      path: '/',
      headers: { 'mqtt-topic': packet.topic, ...(contentType !== undefined ? { 'content-type': contentType } : {}) },
      body,
      trigger: 'mqtt',
      // Bound in the function's own function.toml by whoever deployed it with the token.
      authenticated: true,
    });
    const result = await ctx.invoke(inv);
    if (result.status < 200 || result.status >= 300) {
      counts.failed++;
      this.logger?.debug(
        { event: 'mqtt_call', function: s.function, status: result.status, error: result.report.error },
        `mqtt: ${s.function} answered ${result.status}`,
      );
      return;
    }
    counts.ok++;
    if (s.spec.reply === undefined || result.status === 204) return;
    try {
      await this.connection!.publish(s.spec.reply, result.body, s.spec.qos, headerText(result.headers, 'content-type'));
      counts.replies++;
    } catch (e) {
      counts.replyFailures++;
      this.logger?.warn(
        { event: 'mqtt_reply_failed', function: s.function, topic: s.spec.reply, err: (e as Error).message },
        `mqtt: reply of ${s.function} to "${s.spec.reply}" not published: ${(e as Error).message}`,
      );
    }
  }
}

/** Wait for `work`, at most `ms`. */
async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
