/**
 * A Tern function as OpenFaaS's FunctionStatus (faas-provider types/function_status.go), fields in
 * the Go struct's order. Replicas are instances: `availableReplicas` counts warm ones (idle or busy),
 * `replicas` the larger of min-instances and the instances that exist now.
 */
import type { DeployedFunction } from '../../registry/registry.js';
import type { FunctionStatus as LiveStatus } from '../../scheduler/types.js';
import type { OpenfaasMeta } from './metadata.js';
import { DEFAULT_NAMESPACE } from './namespace.js';
import { formatMiB } from './quantity.js';

export interface OpenfaasFunctionStatus {
  name: string;
  image: string;
  namespace: string;
  envProcess?: string;
  envVars?: Record<string, string>;
  constraints?: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  limits: { memory: string };
  readOnlyRootFilesystem?: boolean;
  invocationCount: number;
  replicas: number;
  availableReplicas: number;
  createdAt: string;
}

/** What a function deployed another way (tern deploy, --registry) shows as its image. */
export function defaultImage(fn: DeployedFunction): string {
  return `${fn.spec.name}:${fn.version}`;
}

export function functionStatus(
  fn: DeployedFunction,
  live: LiveStatus | undefined,
  meta: OpenfaasMeta | undefined,
): OpenfaasFunctionStatus {
  const { fprocess, ...envVars } = fn.spec.env;
  const envProcess = meta?.envProcess ?? fprocess;
  const warm = live ? live.instances.idle + live.instances.busy : 0;
  return {
    name: fn.spec.name,
    image: meta?.image ?? defaultImage(fn),
    namespace: DEFAULT_NAMESPACE,
    ...(envProcess ? { envProcess } : {}),
    ...(Object.keys(envVars).length > 0 ? { envVars } : {}),
    ...(meta && meta.constraints.length > 0 ? { constraints: meta.constraints } : {}),
    labels: meta?.labels ?? {},
    annotations: meta?.annotations ?? {},
    limits: { memory: formatMiB(fn.spec.memory) },
    ...(meta?.readOnlyRootFilesystem ? { readOnlyRootFilesystem: true } : {}),
    invocationCount: live?.invocations ?? 0,
    replicas: Math.max(fn.spec.minInstances, live?.instances.total ?? 0),
    availableReplicas: warm,
    createdAt: meta?.createdAt ?? fn.deployedAt,
  };
}
