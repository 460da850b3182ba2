/**
 * QoS 1 acknowledgements, sent only once a message's calls have finished (and their replies are
 * published), so a node that dies mid-call leaves the message with the broker, which delivers it
 * again when the node's session resumes.
 *
 * Calls run concurrently, but PUBACKs go out in the order the messages arrived on the connection
 * (MQTT 5 §4.6): a finished message waits for the ones before it. A PUBACK is never sent on a
 * connection other than the one the message came on: after a reconnect the broker sends every
 * unacknowledged message again (DUP set, same packet id); one still running here (or finished while
 * the connection was down) is then joined to its first delivery instead of running twice.
 */

export interface Delivery {
  readonly messageId: number;
  done: boolean;
}

export interface Received {
  delivery: Delivery;
  /** False: a redelivery of a message already running or finished here; do not run it again. */
  fresh: boolean;
}

export class AckQueue {
  /** Every message not yet acknowledged, by packet id (unique among a session's unacknowledged messages). */
  private readonly deliveries = new Map<number, Delivery>();
  /** This connection's messages in arrival order. */
  private order: Delivery[] = [];
  private idle: (() => void)[] = [];

  /** `send` writes a PUBACK on the current connection; false when there is none. */
  constructor(private readonly send: (messageId: number) => boolean) {}

  get pending(): number {
    return this.deliveries.size;
  }

  /** A new connection: acknowledgements start over in its order. Without the old session, old messages are gone. */
  connected(sessionPresent: boolean): void {
    this.order = [];
    if (!sessionPresent) {
      this.deliveries.clear();
      this.settle();
    }
  }

  received(messageId: number, dup: boolean): Received {
    const known = this.deliveries.get(messageId);
    if (known !== undefined && dup) {
      if (!this.order.includes(known)) this.order.push(known);
      this.flush();
      return { delivery: known, fresh: false };
    }
    // Not a redelivery of one we hold: the broker has let go of the old one, this is a new message.
    const delivery: Delivery = { messageId, done: false };
    this.deliveries.set(messageId, delivery);
    this.order.push(delivery);
    return { delivery, fresh: true };
  }

  finished(delivery: Delivery): void {
    delivery.done = true;
    this.flush();
  }

  /** Give a message back unacknowledged: the broker delivers it again when the session resumes. */
  abandon(delivery: Delivery): void {
    if (this.deliveries.get(delivery.messageId) === delivery) this.deliveries.delete(delivery.messageId);
    const at = this.order.indexOf(delivery);
    if (at >= 0) this.order.splice(at, 1);
    this.flush();
  }

  /** Resolves when no message waits for its calls (it may still wait for its connection to come back). */
  async running(): Promise<void> {
    if (![...this.deliveries.values()].some((d) => !d.done)) return;
    await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private flush(): void {
    while (this.order[0]?.done) {
      const head = this.order[0];
      if (!this.send(head.messageId)) break;
      this.order.shift();
      if (this.deliveries.get(head.messageId) === head) this.deliveries.delete(head.messageId);
    }
    this.settle();
  }

  private settle(): void {
    if ([...this.deliveries.values()].some((d) => !d.done)) return;
    const waiters = this.idle;
    this.idle = [];
    for (const w of waiters) w();
  }
}
