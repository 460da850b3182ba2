/** Durations in config and function.toml: "250ms", "10s", "5m", "1h", or a bare number of seconds. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!m) return undefined;
  return Number(m[1]) * UNIT_MS[m[2] ?? 's']!;
}

export function formatDuration(msValue: number): string {
  if (msValue % 3_600_000 === 0 && msValue > 0) return `${msValue / 3_600_000}h`;
  if (msValue % 60_000 === 0 && msValue > 0) return `${msValue / 60_000}m`;
  if (msValue % 1000 === 0) return `${msValue / 1000}s`;
  return `${msValue}ms`;
}
