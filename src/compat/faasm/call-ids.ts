/**
 * Faasm's clients read a call id as an integer (faasmcli: int(response)); Tern's own ids are not.
 * Calls made through this API get decimal ids: microseconds since the epoch, strictly rising, so
 * they stay unique across restarts (the node's call journal outlives the process) and never meet
 * Tern's own ids, which always hold a "-". They exceed Faasm's int32 message ids.
 */
let last = 0;

export function newFaasmCallId(): string {
  last = Math.max(Date.now() * 1000, last + 1);
  return String(last);
}

export function isFaasmCallId(id: string): boolean {
  return /^[0-9]{1,16}$/.test(id);
}
