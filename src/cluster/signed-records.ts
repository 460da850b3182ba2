/**
 * Records in etcd are trusted only when their MAC verifies: etcd's write access is not the
 * cluster's trust boundary, the cluster secret is. A node signs its member record and the function
 * records (and tombstones) it writes over their canonical JSON (keys.ts); a peer checks the MAC
 * before it lists the member, sends it anything, or applies the record.
 *
 * A member record also says when it was signed; one older than MEMBER_MAX_AGE_MS (or signed in
 * the future beyond the clock allowance) is stale, so a genuine record copied and put back later
 * lists nobody for long. Function records carry a sequence number instead (registry-sync.ts).
 */
import type { ClusterKeys } from './keys.js';
import { canonicalJson } from './keys.js';
import {
  parseFunctionRecord,
  parseMember,
  type FunctionRecord,
  type MemberRecord,
  type SignedMemberRecord,
  type UnsignedFunctionRecord,
} from './records.js';

/** Clocks of nodes may differ by this much (node-to-node requests use the same allowance). */
export const CLOCK_ALLOWANCE_MS = 30_000;
/** A node re-signs its record at least this often, even when its load does not change. */
export const MEMBER_RESIGN_MS = 10_000;
/** Beyond this age a member record is stale: a few re-sign periods plus the clock allowance. */
export const MEMBER_MAX_AGE_MS = 3 * MEMBER_RESIGN_MS + CLOCK_ALLOWANCE_MS;

export type Verdict<T> = { ok: true; record: T } | { ok: false; why: string };

function withoutMac<T extends { mac: string }>(record: T): Omit<T, 'mac'> {
  const { mac: _mac, ...rest } = record;
  return rest;
}

export function signMember(keys: ClusterKeys, record: MemberRecord, now = Date.now()): SignedMemberRecord {
  // A copy of a signed record may come in: its old signature is not part of what is signed.
  const { mac: _mac, signedAt: _at, ...content } = record as MemberRecord & { mac?: string; signedAt?: number };
  const unsigned = { ...content, signedAt: now };
  return { ...unsigned, mac: keys.mac('member', canonicalJson(unsigned)) };
}

/** Parse, check the MAC over what was parsed, then the record's age. */
export function openMember(keys: ClusterKeys, text: string, now = Date.now()): Verdict<SignedMemberRecord> {
  const record = parseMember(text);
  if (!record) return { ok: false, why: 'malformed' };
  if (!keys.verify('member', canonicalJson(withoutMac(record)), record.mac))
    return { ok: false, why: 'its MAC does not verify with this cluster secret' };
  const age = now - record.signedAt;
  if (age > MEMBER_MAX_AGE_MS) return { ok: false, why: `stale: signed ${Math.round(age / 1000)} s ago` };
  if (age < -CLOCK_ALLOWANCE_MS) return { ok: false, why: 'signed in the future: check the clocks of the nodes' };
  return { ok: true, record };
}

export function signFunctionRecord(keys: ClusterKeys, record: UnsignedFunctionRecord): FunctionRecord {
  const { mac: _mac, ...unsigned } = record as UnsignedFunctionRecord & { mac?: string };
  return { ...unsigned, mac: keys.mac('function', canonicalJson(unsigned)) } as FunctionRecord;
}

export function openFunctionRecord(keys: ClusterKeys, text: string): Verdict<FunctionRecord> {
  const record = parseFunctionRecord(text);
  if (!record) return { ok: false, why: 'malformed' };
  if (!keys.verify('function', canonicalJson(withoutMac(record)), record.mac))
    return { ok: false, why: 'its MAC does not verify with this cluster secret' };
  return { ok: true, record };
}

/** Say something once per key until it changes (a bounded set: etcd may hold many bad keys). */
export class OnceByKey {
  private readonly said = new Map<string, string>();

  constructor(private readonly max = 1_000) {}

  /** True the first time `what` is seen for `key` (again after `clear(key)`). */
  first(key: string, what: string): boolean {
    if (this.said.get(key) === what) return false;
    if (this.said.size >= this.max && !this.said.has(key)) this.said.delete(this.said.keys().next().value!);
    this.said.set(key, what);
    return true;
  }

  clear(key: string): void {
    this.said.delete(key);
  }
}
