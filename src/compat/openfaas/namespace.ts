/**
 * Tern has one function namespace; OpenFaaS clients name it `openfaas-fn` (faasd's default) and
 * may address a function as `name.openfaas-fn`. Any other namespace is refused as faasd does.
 */
import { httpError } from './http-errors.js';

export const DEFAULT_NAMESPACE = 'openfaas-fn';

/** Accepts "" / undefined (the default) or "openfaas-fn"; else 400 "namespace not valid". */
export function checkNamespace(namespace: string | undefined): string {
  if (namespace === undefined || namespace === '' || namespace === DEFAULT_NAMESPACE) return DEFAULT_NAMESPACE;
  throw httpError(400, 'namespace not valid');
}

/** "name.namespace" -> parts (the namespace follows the last dot, as the gateway splits it). */
export function splitQualifiedName(qualified: string): { name: string; namespace: string } {
  const dot = qualified.lastIndexOf('.');
  if (dot <= 0) return { name: qualified, namespace: DEFAULT_NAMESPACE };
  return { name: qualified.slice(0, dot), namespace: qualified.slice(dot + 1) };
}
