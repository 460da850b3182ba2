/**
 * The JSON bodies of the provider API, as faas-provider's Go types define them
 * (openfaas/faas-provider types/function_deployment.go, types/requests.go). Like Go's decoder,
 * unknown fields are ignored and null stands for "absent".
 */
import { z } from 'zod';
import { httpError } from './http-errors.js';

const stringMap = z.record(z.string(), z.string());
const resources = z.object({ memory: z.string().optional(), cpu: z.string().optional() }).loose();

export const functionDeploymentSchema = z
  .object({
    service: z.string(),
    image: z.string(),
    namespace: z.string().optional(),
    envProcess: z.string().optional(),
    envVars: stringMap.nullish(),
    constraints: z.array(z.string()).nullish(),
    secrets: z.array(z.string()).nullish(),
    labels: stringMap.nullish(),
    annotations: stringMap.nullish(),
    limits: resources.nullish(),
    requests: resources.nullish(),
    readOnlyRootFilesystem: z.boolean().optional(),
    // Deprecated and ignored by every current provider.
    registryAuth: z.string().optional(),
    network: z.string().optional(),
  })
  .loose();

export type FunctionDeployment = z.output<typeof functionDeploymentSchema>;

export const deleteFunctionSchema = z.object({ functionName: z.string(), namespace: z.string().optional() }).loose();

export const scaleServiceSchema = z
  .object({
    serviceName: z.string().optional(),
    replicas: z.number().int().min(0).optional(),
    namespace: z.string().optional(),
  })
  .loose();

/** Decode a JSON body against `schema`; 400 with the reason, as the provider answers a body it cannot decode. */
export function decodeBody<S extends z.ZodType>(body: unknown, schema: S): z.output<S> {
  const buffer = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
  if (buffer.length === 0) throw httpError(400, 'expected a body');
  let raw: unknown;
  try {
    raw = JSON.parse(buffer.toString('utf8'));
  } catch (e) {
    throw httpError(400, `invalid JSON: ${(e as Error).message}`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const reason = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
    throw httpError(400, `cannot decode the request: ${reason}`);
  }
  return parsed.data;
}
