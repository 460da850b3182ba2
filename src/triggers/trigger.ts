/**
 * The trigger interface: a protocol front end (HTTP, CoAP, gRPC, compat APIs). A trigger only
 * translates between its protocol and Invocation/Result; it calls `invoke` and holds no policy.
 */
import type { Logger } from 'pino';
import type { Invocation } from '../core/invocation.js';
import type { Result } from '../core/result.js';
import type { Registry } from '../registry/registry.js';

export interface TriggerContext {
  /** Run an invocation through the scheduler. Always resolves: errors are Results (see core/result.ts). */
  invoke(inv: Invocation): Promise<Result>;
  /** Read-only view of the registry (e.g. extra CoAP paths from [triggers]). */
  registry: Pick<Registry, 'list' | 'get' | 'subscribe'>;
  nodeName: string;
  logger: Logger;
  /** Largest request body accepted, bytes. */
  maxBodyBytes: number;
}

export interface Trigger {
  readonly name: string;
  /** Bind and serve. Resolves once listening. */
  start(ctx: TriggerContext): Promise<void>;
  /** Stop accepting new work; resolves when the listener is closed (or, for HTTP, no longer accepts). */
  stop(): Promise<void>;
  /** After the node drained its calls: drop what is left (kept-alive connections). */
  close?(): Promise<void>;
  /** Where it listens, for logs and /v1/info (e.g. "udp://127.0.0.1:5683"). */
  address(): string | undefined;
  /** Live state and counts for /v1/info's `triggerStatus` (event triggers: MQTT, schedules). */
  status?(): unknown;
}
