/**
 * The node's one connection to its MQTT broker (mqtt.js, MQTT 5): a persistent session under a
 * stable client id, reconnects with capped, jittered exponential backoff, and acknowledgements of
 * QoS 1 messages left to the caller (see acks.ts). An unreachable broker never throws out of here:
 * it is a state, shown in /v1/info and /metrics, and retried.
 */
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import type { Logger } from 'pino';
import type { MqttConfig } from '../../config/mqtt.js';

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'stopped';

export interface ConnectionEvents {
  /** A CONNACK: subscriptions may need renewing; without `sessionPresent` the broker forgot the old session. */
  connected(info: { sessionPresent: boolean; subscriptionIds: boolean }): void;
  /** A PUBLISH. QoS 1 messages are acknowledged only through `puback`. */
  message(packet: IPublishPacket): void;
}

export interface ConnectionStatus {
  state: ConnectionState;
  /** ISO time of the last state change. */
  since: string;
  lastError?: string;
  reconnects: number;
}

const FIRST_RETRY_MS = 1_000;
/** Passed to mqtt.js's handleMessage callback: it then skips its own PUBACK, and only that. */
const ACK_LATER = new Error('acknowledged once the calls have finished');

/** Display form of the broker URL (it holds no credentials: config refuses them). */
export function brokerLabel(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

export class BrokerConnection {
  private client: MqttClient | undefined;
  private state: ConnectionState = 'connecting';
  private since = new Date().toISOString();
  private lastError: string | undefined;
  private reconnects = 0;
  /** Attempts since the last successful connection: the backoff's exponent. */
  private attempts = 0;
  private readonly broker: string;

  constructor(
    private readonly config: MqttConfig,
    private readonly clientId: string,
    private readonly maxPacketBytes: number,
    private readonly logger: Logger,
    private readonly events: ConnectionEvents,
  ) {
    this.broker = brokerLabel(config.url);
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  status(): ConnectionStatus {
    return {
      state: this.state,
      since: this.since,
      reconnects: this.reconnects,
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  /** Start connecting; resolves once the first attempt succeeded or failed (bounded by connect-timeout). */
  async open(): Promise<void> {
    if (this.client !== undefined) throw new Error('mqtt connection already open');
    const client = mqtt.connect(this.config.url, this.clientOptions());
    this.client = client;
    // Overriding handleMessage is mqtt.js's documented hook; see ACK_LATER for the QoS 1 part.
    client.handleMessage = (packet, callback) => {
      this.events.message(packet);
      callback(packet.qos === 1 ? ACK_LATER : undefined);
    };
    client.on('connect', (connack) => this.onConnect(connack.sessionPresent, connack.properties));
    client.on('error', (err) => this.onError(err));
    client.on('close', () => this.onClose());
    client.on('reconnect', () => this.onReconnect());
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        client.off('connect', done);
        client.off('close', done);
        resolve();
      };
      const timer = setTimeout(done, this.config.connectTimeoutMs);
      client.once('connect', done);
      client.once('close', done);
    });
    if (this.state !== 'connected') {
      this.logger.error(
        { event: 'mqtt_unreachable', broker: this.broker, err: this.lastError },
        `mqtt: cannot reach broker ${this.broker}: ${this.lastError ?? 'no answer'}; the node serves on and keeps retrying`,
      );
    }
  }

  async subscribe(filter: string, qos: 0 | 1, id: number | undefined): Promise<string | undefined> {
    const client = this.client;
    if (client === undefined || !client.connected) return 'not connected';
    try {
      const granted = await client.subscribeAsync(
        { [filter]: { qos, rh: 2 } },
        id !== undefined ? { properties: { subscriptionIdentifier: id } } : {},
      );
      const code = granted[0]?.qos ?? 0x80;
      return code >= 0x80 ? `refused by the broker (reason code 0x${code.toString(16)})` : undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }

  async unsubscribe(filter: string): Promise<boolean> {
    const client = this.client;
    if (client === undefined || !client.connected) return false;
    try {
      await client.unsubscribeAsync(filter);
      return true;
    } catch {
      return false;
    }
  }

  /** Resolves when the broker has it (QoS 1) or it is written (QoS 0); rejects when it cannot be sent. */
  async publish(topic: string, body: Buffer, qos: 0 | 1, contentType: string | undefined): Promise<void> {
    const client = this.client;
    if (client === undefined || this.state === 'stopped') throw new Error('the MQTT client is closed');
    await client.publishAsync(topic, body, { qos, ...(contentType ? { properties: { contentType } } : {}) });
  }

  /** Acknowledge a QoS 1 message on the current connection; false when there is none. */
  puback(messageId: number): boolean {
    const client = this.client;
    if (client === undefined || !client.connected) return false;
    // mqtt.js has no public call for a PUBACK outside handleMessage's callback, which would hold every
    // later packet (pings included) until the call finished; its packet writer takes one as it is.
    (client as unknown as { _sendPacket(packet: object): void })._sendPacket({
      cmd: 'puback',
      messageId,
      reasonCode: 0,
    });
    return true;
  }

  /** Disconnect (the session stays with the broker), waiting at most `waitMs` for replies in flight. */
  async close(waitMs: number): Promise<void> {
    const client = this.client;
    this.setState('stopped');
    if (client === undefined) return;
    const graceful = client.endAsync(false);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), waitMs)));
    if (
      await Promise.race([
        graceful.then(
          () => false,
          () => false,
        ),
        timedOut,
      ])
    )
      await client.endAsync(true);
    clearTimeout(timer);
  }

  private clientOptions(): IClientOptions {
    const c = this.config;
    const read = (path: string | undefined) => (path !== undefined ? readFileSync(path) : undefined);
    const tls = { ca: read(c.tls.ca), cert: read(c.tls.cert), key: read(c.tls.key) };
    return {
      protocolVersion: 5,
      clientId: this.clientId,
      clean: false,
      keepalive: c.keepaliveSec,
      connectTimeout: c.connectTimeoutMs,
      reconnectPeriod: FIRST_RETRY_MS,
      reconnectOnConnackError: true,
      // Tern renews its subscriptions itself on every connect (subscriptions.ts).
      resubscribe: false,
      // A QoS 0 reply while disconnected is dropped (and counted), never queued without bound.
      queueQoSZero: false,
      properties: {
        sessionExpiryInterval: c.sessionExpirySec,
        receiveMaximum: c.maxInFlight,
        maximumPacketSize: this.maxPacketBytes,
      },
      ...(c.username !== undefined ? { username: c.username } : {}),
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(tls.ca ? { ca: tls.ca } : {}),
      ...(tls.cert ? { cert: tls.cert } : {}),
      ...(tls.key ? { key: tls.key } : {}),
    };
  }

  private onConnect(
    sessionPresent: boolean,
    properties: { subscriptionIdentifiersAvailable?: boolean } | undefined,
  ): void {
    this.attempts = 0;
    if (this.client) this.client.options.reconnectPeriod = FIRST_RETRY_MS;
    const wasDown = this.state === 'reconnecting';
    this.lastError = undefined;
    this.setState('connected');
    this.logger.info(
      { event: 'mqtt_connected', broker: this.broker, sessionPresent },
      `mqtt: ${wasDown ? 'reconnected' : 'connected'} to ${this.broker} as ${this.clientId}`,
    );
    this.events.connected({ sessionPresent, subscriptionIds: properties?.subscriptionIdentifiersAvailable !== false });
  }

  private onError(err: Error): void {
    const first = this.lastError === undefined;
    this.lastError = err.message || String(err);
    // One warning per outage; the retries that follow go to debug.
    if (first && this.state === 'reconnecting')
      this.logger.warn({ event: 'mqtt_error', broker: this.broker, err: this.lastError }, `mqtt: ${this.lastError}`);
    else
      this.logger.debug({ event: 'mqtt_error', broker: this.broker, err: this.lastError }, `mqtt: ${this.lastError}`);
  }

  private onClose(): void {
    if (this.state === 'stopped') return;
    if (this.state === 'connected') {
      this.logger.warn(
        { event: 'mqtt_disconnected', broker: this.broker },
        `mqtt: connection to ${this.broker} lost; reconnecting`,
      );
    }
    this.setState(this.state === 'connecting' ? 'connecting' : 'reconnecting');
  }

  private onReconnect(): void {
    this.reconnects++;
    this.attempts++;
    if (this.state === 'connecting') this.setState('reconnecting');
    // mqtt.js reads reconnectPeriod each time it schedules the next attempt: set the one after this.
    const base = Math.min(this.config.reconnectMaxMs, FIRST_RETRY_MS * 2 ** Math.min(this.attempts, 20));
    if (this.client) this.client.options.reconnectPeriod = Math.round(base * (0.8 + Math.random() * 0.4));
  }

  private setState(state: ConnectionState): void {
    if (state === this.state) return;
    this.state = state;
    this.since = new Date().toISOString();
  }
}
