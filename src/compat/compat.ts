/**
 * Compatibility profiles: thin adapters that let the clients of OpenFaaS, Faasm, Serverledge,
 * tinyFaaS and UniFaaS talk to Tern unchanged. Each translates its API to Invocation/Result and the
 * registry; none holds policy. Each runs on a listener of its own (its system's default port).
 */
import type { FastifyInstance } from 'fastify';
import type { CompatProfileConfig } from '../config.js';
import type { Logger } from 'pino';
import type { LogReader } from '../core/logs.js';
import type { Registry } from '../registry/registry.js';
import type { Scheduler } from '../scheduler/types.js';
import type { WorkflowService } from '../workflows/service.js';

export type CompatName = 'openfaas' | 'faasm' | 'serverledge' | 'tinyfaas' | 'unifaas';

export interface CompatDeps {
  nodeName: string;
  /** The node's area ([cluster] area), for replies that name where a call ran (Serverledge's ExecutionArea). */
  area?: string;
  version: string;
  scheduler: Scheduler;
  registry: Registry;
  logs: LogReader;
  /** The node's management token (e.g. the OpenFaaS basic-auth password). */
  token: string;
  /** unpackedBytes/files: the node's unpacked-folder limits (config `[limits]`), for adapters that stage function folders. */
  limits: { bodyBytes: number; archiveBytes: number; unpackedBytes?: number; files?: number };
  /** The node's data folder (e.g. OpenFaaS images under `<dataDir>/images`). */
  dataDir?: string;
  /** The node's scratch folder (src/scratch.ts): staging folders go there, so a crash mid-deploy leaves nothing a restart does not sweep. */
  scratchDir?: string;
  /** Resolves once the pool has caught up with the last registry change of a function (as GatewayDeps.settled). */
  settled?: (name: string) => Promise<void>;
  logger: Logger;
  /** Runtimes available on this node. */
  runtimes: () => { name: string; available: boolean }[];
  /** The node's trigger addresses as /v1/info lists them (e.g. coap, grpc), for replies that name them (tinyFaaS upload). */
  triggers?: () => Record<string, string | undefined>;
  /** The node's workflows (Serverledge's /workflow routes). */
  workflows?: WorkflowService;
}

/** One listener of a profile that splits its API over several ports (tinyFaaS's layout). */
export interface CompatListener {
  /** Names the listener in the start-up line ("tinyfaas management API on …"); none for the main one. */
  role?: string;
  port: number;
  register(app: FastifyInstance, deps: CompatDeps): Promise<void> | void;
}

export interface CompatProfile {
  readonly name: CompatName;
  /** The system's own default port, used when config gives none. */
  readonly defaultPort: number;
  /** The listeners under this config; absent or undefined: one, on `port` (or defaultPort), with `register`. */
  listeners?(cfg: CompatProfileConfig): CompatListener[] | undefined;
  /**
   * Register the profile's routes on a fresh fastify instance. The raw-body content parser
   * (every body a Buffer) and the JSON error handler are already installed; a profile may
   * override the error/not-found handlers to answer in its system's own error format.
   */
  register(app: FastifyInstance, deps: CompatDeps): Promise<void> | void;
  /**
   * The answer to a management call without a valid token, in the system's own error format
   * (default: the native JSON 401). Which routes are management is declared on each route
   * (`config: { access }`, see src/http/access.ts): a route that declares nothing needs the token.
   */
  denied?(verdict: 'absent' | 'invalid'): Error;
}
