/**
 * The node's etcd client. Every unary call has a deadline, so an unreachable etcd makes a call
 * fail in seconds instead of hanging a heartbeat or a deploy; the client itself keeps retrying
 * connections. Watch streams reconnect with a short, capped backoff so a node notices a returning
 * etcd within seconds (the library default waits up to 30 s).
 */
import { Etcd3 } from 'etcd3';

/** Deadline of one unary etcd call (get, put, grant, txn). */
export const ETCD_CALL_MS = 3_000;

/** Doubling from 250 ms to 2 s: structurally what etcd3's watch manager asks of a backoff. */
class CappedBackoff {
  constructor(readonly duration = 250) {}
  next(): CappedBackoff {
    return new CappedBackoff(Math.min(this.duration * 2, 2_000));
  }
}

export function createEtcdClient(hosts: string[]): Etcd3 {
  return new Etcd3({
    hosts,
    dialTimeout: ETCD_CALL_MS,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_MS }),
    faultHandling: { watchBackoff: new CappedBackoff() },
  });
}
