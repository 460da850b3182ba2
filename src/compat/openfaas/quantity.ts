/** Kubernetes-style resource quantities ("128Mi", "128M", "1Gi", "134217728") as whole MiB, rounded up. */
import { httpError } from './http-errors.js';

const FACTORS: Record<string, number> = {
  '': 1,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
};

export function memoryQuantityMiB(field: string, value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|k|K|M|G|T)?\s*$/.exec(value);
  if (!m)
    throw httpError(
      400,
      `${field}: ${JSON.stringify(value)} is not a memory quantity (use e.g. "128Mi", "128M" or bytes)`,
    );
  const bytes = Number(m[1]) * FACTORS[m[2] ?? '']!;
  const mib = Math.ceil(bytes / 2 ** 20);
  if (mib < 1 || mib > 65536) throw httpError(400, `${field}: ${JSON.stringify(value)} is outside 1Mi..64Gi`);
  return mib;
}

/** MiB as the quantity string faasd reports (resource.Quantity, BinarySI). */
export function formatMiB(mib: number): string {
  return mib % 1024 === 0 ? `${mib / 1024}Gi` : `${mib}Mi`;
}
