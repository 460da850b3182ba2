/**
 * The cluster's keys. Nodes share one secret; it is never sent anywhere. HKDF-SHA256 derives one
 * subkey per purpose from it, so a MAC made for one purpose (a member record) is never valid for
 * another (a node-to-node request), even over the same bytes.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

export type KeyPurpose = 'member' | 'function' | 'request' | 'response';

const PURPOSES: readonly KeyPurpose[] = ['member', 'function', 'request', 'response'];
const SALT = 'tern-cluster';
/** HMAC-SHA256 in base64url: 43 characters. */
export const MAC_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export class ClusterKeys {
  private readonly keys: ReadonlyMap<KeyPurpose, Buffer>;

  constructor(secret: string) {
    this.keys = new Map(
      PURPOSES.map((p) => [p, Buffer.from(hkdfSync('sha256', secret, SALT, `tern ${p} mac v1`, 32))]),
    );
  }

  mac(purpose: KeyPurpose, data: string | Buffer): string {
    return createHmac('sha256', this.keys.get(purpose)!).update(data).digest('base64url');
  }

  /** Constant-time check of a MAC made by `mac`. */
  verify(purpose: KeyPurpose, data: string | Buffer, mac: string): boolean {
    if (!MAC_PATTERN.test(mac)) return false;
    const want = Buffer.from(this.mac(purpose, data));
    const given = Buffer.from(mac);
    return given.length === want.length && timingSafeEqual(given, want);
  }
}

/** JSON with object keys sorted at every level: the same value gives the same bytes on every node. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
