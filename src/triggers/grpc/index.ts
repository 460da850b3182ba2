/**
 * The gRPC trigger: tinyFaaS's TinyFaaS.Request service (proto/tinyfaas.proto), so tinyFaaS gRPC
 * clients work unchanged. It only translates: the node's invoke holds the policy.
 */
import {
  Metadata,
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { isIPv6 } from 'node:net';
import { createInvocation } from '../../core/invocation.js';
import type { Result } from '../../core/result.js';
import type { Trigger, TriggerContext } from '../trigger.js';
import { tinyFaasService, type TinyFaasData, type TinyFaasResponse } from './proto.js';
import { errorDetails, grpcStatusOf } from './status.js';
import { headerText } from '../../core/headers.js';

export interface GrpcTriggerOptions {
  /** TCP port; tinyFaaS uses 9000. 0 picks a free one. */
  port: number;
  host: string;
}

export const DEFAULT_GRPC_PORT = 9000;
/** Room for the function name and framing on top of the body limit. */
const MESSAGE_OVERHEAD_BYTES = 64 * 1024;
const SHUTDOWN_GRACE_MS = 5000;
/**
 * Metadata that belongs to gRPC's transport, not to the caller's request. Everything else reaches
 * the function as a header, user-agent included, as tinyFaaS passes every metadata entry.
 */
const TRANSPORT_KEYS = new Set(['content-type', 'te', 'accept-encoding']);

function requestHeaders(metadata: Metadata): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (TRANSPORT_KEYS.has(key) || key.startsWith('grpc-') || key.startsWith(':') || typeof value !== 'string')
      continue;
    headers[key] = value;
  }
  return headers;
}

function resultMetadata(result: Result): Metadata {
  const metadata = new Metadata();
  metadata.set('x-tern-report', JSON.stringify(result.report));
  metadata.set('x-tern-status', String(result.status));
  const retryAfter = headerText(result.headers, 'retry-after');
  if (retryAfter !== undefined) metadata.set('retry-after', retryAfter);
  return metadata;
}

function fail(callback: sendUnaryData<TinyFaasResponse>, code: GrpcStatus, details: string): void {
  callback({ code, details });
}

async function handleRequest(
  ctx: TriggerContext,
  call: ServerUnaryCall<TinyFaasData, TinyFaasResponse>,
  callback: sendUnaryData<TinyFaasResponse>,
): Promise<void> {
  const { functionIdentifier, data } = call.request;
  if (typeof functionIdentifier !== 'string' || functionIdentifier === '' || typeof data !== 'string') {
    return fail(callback, GrpcStatus.INVALID_ARGUMENT, 'functionIdentifier must name a function');
  }
  // tinyFaaS names only the function; "name/path" also passes a path, as HTTP's /fn/name/path does.
  const slash = functionIdentifier.indexOf('/');
  const name = slash === -1 ? functionIdentifier : functionIdentifier.slice(0, slash);
  const path = slash === -1 ? '/' : functionIdentifier.slice(slash);
  const body = Buffer.from(data, 'utf8');
  if (body.length > ctx.maxBodyBytes)
    return fail(callback, GrpcStatus.RESOURCE_EXHAUSTED, `request body over ${ctx.maxBodyBytes} bytes`);
  if (ctx.registry.get(name)?.spec.private === true) {
    return fail(callback, GrpcStatus.UNAUTHENTICATED, `function "${name}" is private; call it over HTTP with a token`);
  }
  const invocation = createInvocation({
    function: name,
    method: 'POST',
    path,
    headers: requestHeaders(call.metadata),
    body,
    trigger: 'grpc',
  });
  const result = await ctx.invoke(invocation);
  const metadata = resultMetadata(result);
  call.sendMetadata(metadata);
  const code = grpcStatusOf(result.status);
  if (code === GrpcStatus.OK) callback(null, { response: result.body.toString('utf8') });
  else callback({ code, details: errorDetails(result), metadata });
}

export function createGrpcTrigger(options: GrpcTriggerOptions): Trigger {
  let server: Server | undefined;
  let bound: string | undefined;

  return {
    name: 'grpc',

    async start(ctx: TriggerContext): Promise<void> {
      if (server !== undefined) throw new Error('grpc trigger already started');
      const logger = ctx.logger.child({ trigger: 'grpc' });
      const grpcServer = new Server({ 'grpc.max_receive_message_length': ctx.maxBodyBytes + MESSAGE_OVERHEAD_BYTES });
      grpcServer.addService(tinyFaasService(), {
        Request: (call: ServerUnaryCall<TinyFaasData, TinyFaasResponse>, callback: sendUnaryData<TinyFaasResponse>) => {
          handleRequest(ctx, call, callback).catch((err: unknown) => {
            logger.error({ err }, 'grpc: request failed');
            fail(callback, GrpcStatus.INTERNAL, 'internal error');
          });
        },
      });
      const host = isIPv6(options.host) ? `[${options.host}]` : options.host;
      const port = await new Promise<number>((resolve, reject) => {
        grpcServer.bindAsync(`${host}:${options.port}`, ServerCredentials.createInsecure(), (err, p) =>
          err ? reject(err) : resolve(p),
        );
      }).catch((err: unknown) => {
        grpcServer.forceShutdown();
        throw new Error(
          `grpc: cannot listen on ${host}:${options.port}: ${err instanceof Error ? err.message : String(err)}`,
        );
      });
      server = grpcServer;
      bound = `grpc://${host}:${port}`;
      logger.info({ address: bound }, 'grpc trigger listening');
    },

    async stop(): Promise<void> {
      const grpcServer = server;
      server = undefined;
      bound = undefined;
      if (grpcServer === undefined) return;
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          grpcServer.forceShutdown();
          resolve();
        }, SHUTDOWN_GRACE_MS);
        grpcServer.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },

    address(): string | undefined {
      return bound;
    },
  };
}
