/**
 * The node's etcd client. Every unary call has a deadline, so an unreachable etcd makes a call
 * fail in seconds instead of hanging a heartbeat or a deploy; the client itself keeps retrying
 * connections. Watch streams reconnect with a short, capped backoff so a node notices a returning
 * etcd within seconds (the library default waits up to 30 s).
 *
 * Access: TLS (a CA, and a client certificate for etcd's --client-cert-auth) and etcd's own
 * user/password authentication, from `[cluster] etcd-*` (config.ts). The files are read here, at
 * start, so a missing or unreadable one stops the node with the key that names it.
 */
import { readFileSync } from 'node:fs';
import { Etcd3, type IOptions } from 'etcd3';
import type { EtcdAccessConfig } from '../config.js';

/** Deadline of one unary etcd call (get, put, grant, txn). */
export const ETCD_CALL_MS = 3_000;

/** Doubling from 250 ms to 2 s: structurally what etcd3's watch manager asks of a backoff. */
class CappedBackoff {
  constructor(readonly duration = 250) {}
  next(): CappedBackoff {
    return new CappedBackoff(Math.min(this.duration * 2, 2_000));
  }
}

/** What the etcd client needs beyond the endpoints (files already read). */
export interface EtcdAccess {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  user?: string;
  password?: string;
}

function readPem(path: string | undefined, key: string): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new Error(`[cluster] ${key} ${path}: ${(e as Error).message}`, { cause: e });
  }
}

/** Read the PEM files the config names; throws naming the key of a file that cannot be read. */
export function loadEtcdAccess(c: EtcdAccessConfig): EtcdAccess {
  const access: EtcdAccess = {};
  const ca = readPem(c.caFile, 'etcd-ca');
  const cert = readPem(c.certFile, 'etcd-cert');
  const key = readPem(c.keyFile, 'etcd-key');
  if (ca) access.ca = ca;
  if (cert) access.cert = cert;
  if (key) access.key = key;
  if (c.user !== undefined) access.user = c.user;
  if (c.password !== undefined) access.password = c.password;
  return access;
}

function accessOptions(access: EtcdAccess): Pick<IOptions, 'credentials' | 'auth'> {
  const options: Pick<IOptions, 'credentials' | 'auth'> = {};
  if (access.ca || access.cert) {
    options.credentials = {
      // Without a CA of its own, grpc's createSsl takes null for the system's roots (the type says Buffer).
      rootCertificate: access.ca ?? (null as unknown as Buffer),
      ...(access.key ? { privateKey: access.key } : {}),
      ...(access.cert ? { certChain: access.cert } : {}),
    };
  }
  if (access.user !== undefined && access.password !== undefined)
    options.auth = { username: access.user, password: access.password };
  return options;
}

export function createEtcdClient(hosts: string[], access: EtcdAccess = {}): Etcd3 {
  return new Etcd3({
    hosts,
    dialTimeout: ETCD_CALL_MS,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + ETCD_CALL_MS }),
    faultHandling: { watchBackoff: new CappedBackoff() },
    ...accessOptions(access),
  });
}
