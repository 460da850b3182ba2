/**
 * The CoAP trigger (tinyFaaS style): `coap://host/NAME[/path]` over UDP, plus extra paths from
 * `[triggers] coap = "…"`. See docs/triggers.md. It only translates; ctx.invoke holds the policy.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Trigger, TriggerContext } from '../trigger.js';
import { Block1Assembler, Block2Store } from './blockwise.js';
import { createRequestHandler } from './handler.js';
import { MessageLayer } from './message-layer.js';
import { CoapRoutes } from './routes.js';

export interface CoapTriggerOptions {
  /** UDP port; 5683 is CoAP's. 0 picks a free one. */
  port: number;
  host: string;
  /**
   * How long a response may take and still ride on the ACK of a Confirmable request (ms).
   * Past it an empty ACK goes out and the response follows as its own Confirmable message.
   * Default 1000: under the 2 s after which clients retransmit.
   */
  piggybackMs?: number;
}

export const DEFAULT_COAP_PORT = 5683;
const DEFAULT_PIGGYBACK_MS = 1000;

export function createCoapTrigger(options: CoapTriggerOptions): Trigger {
  let socket: Socket | undefined;
  let layer: MessageLayer | undefined;
  let unsubscribe: (() => void) | undefined;
  let block1: Block1Assembler | undefined;
  let block2: Block2Store | undefined;
  let bound: string | undefined;

  return {
    name: 'coap',

    async start(ctx: TriggerContext): Promise<void> {
      if (socket !== undefined) throw new Error('coap trigger already started');
      const logger = ctx.logger.child({ trigger: 'coap' });
      const routes = new CoapRoutes();
      const refresh = () => {
        for (const warning of routes.rebuild(ctx.registry.list())) logger.warn(warning);
      };
      unsubscribe = ctx.registry.subscribe(refresh);
      refresh();

      block1 = new Block1Assembler(ctx.maxBodyBytes);
      block2 = new Block2Store(ctx.maxBodyBytes);
      const handler = createRequestHandler({ ctx, logger, routes, block1, block2 });
      const sock = createSocket({ type: isIPv6(options.host) ? 'udp6' : 'udp4' });
      const messages = new MessageLayer(sock, handler, {
        piggybackMs: options.piggybackMs ?? DEFAULT_PIGGYBACK_MS,
        logger,
      });
      sock.on('message', (datagram, peer) => messages.receive(datagram, peer));
      try {
        await new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind(options.port, options.host, () => {
            sock.off('error', reject);
            resolve();
          });
        });
      } catch (e) {
        unsubscribe();
        unsubscribe = undefined;
        sock.close();
        throw new Error(`coap: cannot listen on udp ${options.host}:${options.port}: ${(e as Error).message}`, {
          cause: e,
        });
      }
      sock.on('error', (err) => logger.error({ err }, 'coap: socket error'));
      const { address, port } = sock.address();
      bound = `udp://${isIPv6(address) ? `[${address}]` : address}:${port}`;
      socket = sock;
      layer = messages;
      logger.info({ address: bound }, 'coap trigger listening');
    },

    async stop(): Promise<void> {
      unsubscribe?.();
      unsubscribe = undefined;
      layer?.close();
      layer = undefined;
      block1?.clear();
      block2?.clear();
      const sock = socket;
      socket = undefined;
      bound = undefined;
      if (sock !== undefined) await new Promise<void>((resolve) => sock.close(() => resolve()));
    },

    address(): string | undefined {
      return bound;
    },
  };
}
