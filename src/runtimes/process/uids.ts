/**
 * Host user ids for functions: each function's sandbox runs as a uid of its own, never 0, so one
 * function's processes cannot signal, trace or read another's, and the host can tell them apart.
 * The uid comes from the function's name (stable across restarts and nodes) in a range no
 * distribution hands out: above the subordinate ranges of /etc/subuid and systemd's container
 * ranges, below 2^31 (some tools read uids as signed). Two names on one slot: the second probes on.
 */
import { createHash } from 'node:crypto';

/** 0x70000000: the first uid Tern gives a function. */
export const FUNCTION_UID_BASE = 0x7000_0000;
/** How many uids the range holds (2^24). */
export const FUNCTION_UID_COUNT = 0x100_0000;
/** The function's uid and gid inside its own user namespace (mapped to its host uid). */
export const SANDBOX_UID = 1000;
export const SANDBOX_GID = 1000;

export interface HostIdentity {
  uid: number;
  gid: number;
}

function slotOf(name: string): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0) % FUNCTION_UID_COUNT;
}

/** The uid a name gets when no other name took it first. */
export function preferredUid(name: string): number {
  return FUNCTION_UID_BASE + slotOf(name);
}

/** Hands each name a host uid (gid = uid) and keeps it for the life of the process. */
export class UidAllocator {
  private readonly byName = new Map<string, number>();
  private readonly byUid = new Map<number, string>();

  identityOf(name: string): HostIdentity {
    let uid = this.byName.get(name);
    if (uid === undefined) {
      if (this.byUid.size >= FUNCTION_UID_COUNT) throw new Error('every function uid is taken');
      let slot = slotOf(name);
      while (this.byUid.has(FUNCTION_UID_BASE + slot)) slot = (slot + 1) % FUNCTION_UID_COUNT;
      uid = FUNCTION_UID_BASE + slot;
      this.byName.set(name, uid);
      this.byUid.set(uid, name);
    }
    return { uid, gid: uid };
  }
}
