/**
 * function.toml's `network = [...]`: the destinations a function granted network may reach, and
 * nothing else. An entry is an IPv4 address or CIDR block with an optional port
 * ("10.0.0.0/8", "192.168.1.5:443", "10.1.0.0/16:8080"), or "dns" for the sandbox's resolver.
 * Names are refused (an answer changes after the check); so is IPv6 (sandbox networks are IPv4).
 */

export const MAX_NETWORK_ENTRIES = 64;

export type NetworkAllowRule = { kind: 'dns' } | { kind: 'address'; cidr: string; port?: number };

const ENTRY = /^(\d{1,3}(?:\.\d{1,3}){3})(?:\/(\d{1,2}))?(?::(\d{1,5}))?$/;

function ipv4ToNumber(text: string): number | undefined {
  const parts = text.split('.').map(Number);
  if (parts.some((p, i) => p > 255 || String(p) !== text.split('.')[i])) return undefined;
  return parts.reduce((n, p) => n * 256 + p, 0);
}

function numberToIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** One entry, or why it is not one (the message names no key: the caller adds it). */
export function parseNetworkEntry(entry: string): NetworkAllowRule | string {
  const text = entry.trim();
  if (text === 'dns') return { kind: 'dns' };
  if (text.includes('[') || (text.match(/:/g) ?? []).length > 1)
    return `"${entry}": IPv6 destinations are not supported (the sandbox network is IPv4 only)`;
  const m = ENTRY.exec(text);
  if (!m) {
    return /^[a-z0-9.-]+(:\d+)?$/i.test(text)
      ? `"${entry}": names are not allowed, only IPv4 addresses or CIDR blocks (e.g. "192.168.1.5:443", "10.0.0.0/8"), or "dns"`
      : `"${entry}": not an IPv4 address or CIDR block with an optional port (e.g. "192.168.1.5:443", "10.0.0.0/8")`;
  }
  const address = ipv4ToNumber(m[1]!);
  if (address === undefined) return `"${entry}": ${m[1]} is not an IPv4 address`;
  const prefix = m[2] === undefined ? 32 : Number(m[2]);
  if (prefix > 32) return `"${entry}": the prefix length must be 0 to 32`;
  const size = 2 ** (32 - prefix);
  if (address % size !== 0)
    return `"${entry}": host bits are set (did you mean ${numberToIpv4(address - (address % size))}/${prefix}?)`;
  const rule: NetworkAllowRule = { kind: 'address', cidr: `${m[1]}/${prefix}` };
  if (m[3] !== undefined) {
    const port = Number(m[3]);
    if (port < 1 || port > 65535) return `"${entry}": the port must be 1 to 65535`;
    rule.port = port;
  }
  return rule;
}

/** The canonical text of a rule: what the normalised spec keeps. */
export function formatNetworkRule(rule: NetworkAllowRule): string {
  if (rule.kind === 'dns') return 'dns';
  return rule.port === undefined ? rule.cidr : `${rule.cidr}:${rule.port}`;
}

/** Parse a list; throws Error('network[i]: why') for the first bad entry. */
export function parseNetworkAllow(entries: readonly string[]): NetworkAllowRule[] {
  if (entries.length === 0) throw new Error('network: an empty list allows nothing; write network = false');
  if (entries.length > MAX_NETWORK_ENTRIES)
    throw new Error(`network: ${entries.length} entries, at most ${MAX_NETWORK_ENTRIES}`);
  return entries.map((entry, i) => {
    const rule = parseNetworkEntry(entry);
    if (typeof rule === 'string') throw new Error(`network[${i}]: ${rule}`);
    return rule;
  });
}
