/**
 * The CoAP message layer (RFC 7252 §4) over one UDP socket: deduplication of requests per peer
 * and message id for EXCHANGE_LIFETIME (a duplicate gets the cached reply, never a second
 * invocation, even while the first is still running), piggybacked or separate responses, and
 * retransmission of separate Confirmable responses until the peer acknowledges them.
 *
 * node-coap's server does part of this but re-invokes a duplicate that arrives before its reply
 * is sent, so Tern runs its own message layer on node-coap's codec (coap-packet).
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { generate, parse, type Option, type ParsedPacket } from 'coap-packet';
import type { Logger } from 'pino';
import { BoundedLru } from './lru.js';
import { MAX_DATAGRAM_BYTES, TIMING } from './wire.js';

export interface OutgoingResponse {
  code: string;
  options: Option[];
  payload: Buffer;
}

export interface IncomingRequest {
  readonly packet: ParsedPacket;
  readonly peer: RemoteInfo;
  /** Send the response; throws if it does not fit one datagram (nothing is sent then). */
  respond(response: OutgoingResponse): void;
}

export interface MessageLayerOptions {
  /** How long a response may take to still ride on the ACK; after that an empty ACK goes first (0: always). */
  piggybackMs: number;
  logger: Logger;
}

interface Exchange {
  /** Set while the request is being handled. */
  pending?: PendingRequest;
  /** What a duplicate gets once answered. */
  replay?: Buffer;
}

const MAX_EXCHANGES = 50_000;
const MAX_EXCHANGE_BYTES = 32 * 1024 * 1024;
const MAX_RETRANSMISSIONS_TRACKED = 10_000;
const EXCHANGE_OVERHEAD_BYTES = 96;

function emptyMessage(type: 'ack' | 'reset', messageId: number): Buffer {
  return generate({ code: '0.00', messageId, ack: type === 'ack', reset: type === 'reset' });
}

function endpointKey(peer: RemoteInfo, messageId: number): string {
  return `${peer.address}|${peer.port}|${messageId}`;
}

class PendingRequest implements IncomingRequest {
  private timer: NodeJS.Timeout | undefined;
  /** An empty ACK went out: the response must travel as a separate message. */
  private acknowledged = false;
  private finished = false;

  constructor(
    private readonly layer: MessageLayer,
    readonly packet: ParsedPacket,
    readonly peer: RemoteInfo,
    readonly key: string,
    piggybackMs: number,
  ) {
    if (!packet.confirmable) return;
    if (piggybackMs <= 0) this.acknowledge();
    else this.timer = setTimeout(() => this.acknowledge(), piggybackMs);
  }

  /** Empty ACK now (again, for a duplicate); the response follows separately. */
  acknowledge(): void {
    if (this.finished) return;
    this.stopTimer();
    this.acknowledged = true;
    this.layer.send(emptyMessage('ack', this.packet.messageId), this.peer);
  }

  respond(response: OutgoingResponse): void {
    if (this.finished) return;
    const token = this.packet.token;
    const base = { code: response.code, token, options: response.options, payload: response.payload };
    if (this.packet.confirmable && !this.acknowledged) {
      const datagram = generate({ ...base, messageId: this.packet.messageId, ack: true }, MAX_DATAGRAM_BYTES);
      this.finish(datagram);
      this.layer.send(datagram, this.peer);
      return;
    }
    const messageId = this.layer.nextMessageId();
    const datagram = generate({ ...base, messageId, confirmable: this.packet.confirmable }, MAX_DATAGRAM_BYTES);
    if (this.packet.confirmable) {
      this.finish(emptyMessage('ack', this.packet.messageId));
      this.layer.sendConfirmable(datagram, messageId, this.peer);
    } else {
      this.finish(datagram);
      this.layer.send(datagram, this.peer);
    }
  }

  stopTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private finish(replay: Buffer): void {
    this.finished = true;
    this.stopTimer();
    this.layer.settle(this, replay);
  }
}

export class MessageLayer {
  private readonly exchanges = new BoundedLru<Exchange>({
    maxEntries: MAX_EXCHANGES,
    maxBytes: MAX_EXCHANGE_BYTES,
    ttlMs: TIMING.exchangeLifetimeMs,
    sizeOf: (e) => EXCHANGE_OVERHEAD_BYTES + (e.replay?.length ?? 0),
    sliding: false,
  });
  private readonly pending = new Set<PendingRequest>();
  private readonly retransmissions = new Map<string, NodeJS.Timeout>();
  private messageId = Math.floor(Math.random() * 0x10000);
  private closed = false;

  constructor(
    private readonly socket: Socket,
    private readonly onRequest: (request: IncomingRequest) => void,
    private readonly options: MessageLayerOptions,
  ) {}

  receive(datagram: Buffer, peer: RemoteInfo): void {
    if (this.closed) return;
    let packet: ParsedPacket;
    try {
      packet = parse(datagram);
    } catch {
      // RFC 7252 §4.2: a Confirmable message with a format error is rejected with a Reset.
      if (
        datagram.length >= 4 &&
        datagram[0] !== undefined &&
        datagram[0] >> 6 === 1 &&
        ((datagram[0] >> 4) & 3) === 0
      ) {
        this.send(emptyMessage('reset', datagram.readUInt16BE(2)), peer);
      }
      return;
    }
    if (packet.ack || packet.reset) {
      this.settleRetransmission(endpointKey(peer, packet.messageId));
      return;
    }
    if (packet.code === '0.00' || !packet.code.startsWith('0.')) {
      // A ping (empty CON) or a response sent to a server: Reset for CON, silence for NON.
      if (packet.confirmable) this.send(emptyMessage('reset', packet.messageId), peer);
      return;
    }
    const key = endpointKey(peer, packet.messageId);
    const seen = this.exchanges.get(key);
    if (seen !== undefined) {
      if (seen.replay !== undefined) this.send(seen.replay, peer);
      // The peer retransmitted while we work: acknowledge so it stops, answer separately.
      else if (packet.confirmable) seen.pending?.acknowledge();
      return;
    }
    const request = new PendingRequest(this, packet, peer, key, this.options.piggybackMs);
    this.pending.add(request);
    this.exchanges.set(key, { pending: request });
    this.onRequest(request);
  }

  send(datagram: Buffer, peer: RemoteInfo): void {
    if (this.closed) return;
    this.socket.send(datagram, peer.port, peer.address, (err) => {
      if (err) this.options.logger.debug({ err, peer: `${peer.address}:${peer.port}` }, 'coap: send failed');
    });
  }

  nextMessageId(): number {
    this.messageId = (this.messageId + 1) & 0xffff;
    return this.messageId;
  }

  /** Send a CON and retransmit it with exponential back-off (RFC 7252 §4.2) until ACK or RST. */
  sendConfirmable(datagram: Buffer, messageId: number, peer: RemoteInfo): void {
    this.send(datagram, peer);
    const key = endpointKey(peer, messageId);
    if (this.retransmissions.size >= MAX_RETRANSMISSIONS_TRACKED) return;
    let timeout = TIMING.ackTimeoutMs * (1 + (TIMING.ackRandomFactor - 1) * Math.random());
    let attempts = 0;
    const retry = () => {
      if (this.closed || attempts >= TIMING.maxRetransmit) {
        this.retransmissions.delete(key);
        return;
      }
      attempts += 1;
      timeout *= 2;
      this.send(datagram, peer);
      this.retransmissions.set(key, setTimeout(retry, timeout));
    };
    this.retransmissions.set(key, setTimeout(retry, timeout));
  }

  /** Called by a request once answered: later duplicates get `replay`. */
  settle(request: PendingRequest, replay: Buffer): void {
    this.pending.delete(request);
    if (this.exchanges.get(request.key)?.pending === request) this.exchanges.set(request.key, { replay });
  }

  close(): void {
    this.closed = true;
    for (const request of this.pending) request.stopTimer();
    this.pending.clear();
    for (const timer of this.retransmissions.values()) clearTimeout(timer);
    this.retransmissions.clear();
    this.exchanges.clear();
  }

  private settleRetransmission(key: string): void {
    const timer = this.retransmissions.get(key);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.retransmissions.delete(key);
  }
}
