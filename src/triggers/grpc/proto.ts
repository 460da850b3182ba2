/**
 * Loads tinyFaaS's service definition from proto/tinyfaas.proto (the single source of the
 * interface) for the trigger, its tests and the protocol benchmark.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeClientConstructor, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

export const TINYFAAS_SERVICE = 'openfogstack.tinyfaas.tinyfaas.TinyFaaS';

/** The request message. */
export interface TinyFaasData {
  functionIdentifier: string;
  data: string;
}

/** The response message. */
export interface TinyFaasResponse {
  response: string;
}

/** Walks up from this module (src/… or dist/src/…) to the repository's proto/ folder. */
export function protoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    const candidate = join(dir, 'proto', 'tinyfaas.proto');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error('proto/tinyfaas.proto not found above the grpc trigger module');
}

let cached: ServiceDefinition | undefined;

export function tinyFaasService(): ServiceDefinition {
  if (cached !== undefined) return cached;
  // keepCase: field names exactly as in the .proto (functionIdentifier); defaults: absent strings are "".
  const definition = loadSync(protoPath(), {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const service = definition[TINYFAAS_SERVICE];
  if (service === undefined || 'format' in service || !('Request' in service)) {
    throw new Error(`${protoPath()} does not define service ${TINYFAAS_SERVICE} with method Request`);
  }
  cached = service as ServiceDefinition;
  return cached;
}

/** A client class for the service, generated at run time from the same .proto. */
export function tinyFaasClient(): ServiceClientConstructor {
  return makeClientConstructor(tinyFaasService(), 'TinyFaaS');
}
