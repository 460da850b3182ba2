/**
 * Node-to-node requests are signed, never carry the cluster secret. The sender MACs (with the
 * request subkey) the method, the path as the receiver's router matches it, the sha256 of the body,
 * and every x-tern-* header below: who sends it, the node it is for, the time, a random nonce, the
 * hop count and path of a forwarded call, and whether the sender authenticated the caller. The
 * receiver checks the MAC, that it is the node named, that the time is within ±CLOCK_ALLOWANCE_MS of
 * its own, and that it has not seen the nonce within that window. Its answer is signed over its own
 * name, the request's nonce, the status and the body's sha256, so a forged answer (or another
 * node's) cannot pass for the peer's: the sender treats an unsigned answer as a call that may have
 * run there, never as a refusal to try elsewhere.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { TernError } from '../core/errors.js';
import type { ClusterKeys } from './keys.js';
import { ReplayCache } from './replay-cache.js';
import { CLOCK_ALLOWANCE_MS } from './signed-records.js';
import { HOPS_HEADER, PATH_HEADER } from './wire.js';

export const SIGNATURE_HEADER = 'x-tern-signature';
export const FROM_HEADER = 'x-tern-from';
export const TO_HEADER = 'x-tern-to';
export const TIME_HEADER = 'x-tern-time';
export const NONCE_HEADER = 'x-tern-nonce';
export const BODY_DIGEST_HEADER = 'x-tern-body-sha256';
/** "1": the sending node authenticated the caller of a private function (the MAC vouches for it). */
export const AUTHENTICATED_HEADER = 'x-tern-authenticated';
/** The header of the shared-secret scheme this replaced: refused in a forwarded call like the others. */
export const LEGACY_SECRET_HEADER = 'x-tern-cluster-secret';

/** Covered by the MAC, in this order. */
const SIGNED_HEADERS = [
  AUTHENTICATED_HEADER,
  BODY_DIGEST_HEADER,
  FROM_HEADER,
  HOPS_HEADER,
  NONCE_HEADER,
  PATH_HEADER,
  TIME_HEADER,
  TO_HEADER,
] as const;

/** Every header of the node-to-node envelope: none of them may reach a function. */
export const CLUSTER_HEADERS: ReadonlySet<string> = new Set([
  ...SIGNED_HEADERS,
  SIGNATURE_HEADER,
  LEGACY_SECRET_HEADER,
]);

/** The function's request headers without the cluster's envelope, nor the caller's token for a private function. */
export function functionHeaders(headers: Readonly<Record<string, string>>, isPrivate: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    const key = name.toLowerCase();
    if (CLUSTER_HEADERS.has(key) || (isPrivate && key === 'authorization')) continue;
    out[key] = value;
  }
  return out;
}

/** Replay window kept per node: ~6.6k signed requests a second over the whole window. */
export const MAX_NONCES = 200_000;

export const sha256Hex = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

function requestCanonical(method: string, target: string, headers: Record<string, string | undefined>): string {
  const lines = ['TERN-REQUEST-1', method.toUpperCase(), target];
  for (const name of SIGNED_HEADERS) lines.push(`${name}:${headers[name] ?? ''}`);
  return lines.join('\n');
}

const responseCanonical = (responder: string, nonce: string, status: number, body: Buffer): string =>
  ['TERN-RESPONSE-1', responder, nonce, String(status), sha256Hex(body)].join('\n');

export interface OutgoingRequest {
  method: 'GET' | 'POST';
  /** Path and query as the peer's router matches them (no advertise prefix). */
  target: string;
  from: string;
  to: string;
  body?: Buffer;
  authenticated?: boolean;
  hops?: number;
  path?: string;
}

/** The headers of a signed request, the nonce among them (to check the answer). */
export function signRequest(keys: ClusterKeys, r: OutgoingRequest, now = Date.now()): Record<string, string> {
  const headers: Record<string, string> = {
    [FROM_HEADER]: r.from,
    [TO_HEADER]: r.to,
    [TIME_HEADER]: String(now),
    [NONCE_HEADER]: randomBytes(16).toString('base64url'),
    [BODY_DIGEST_HEADER]: sha256Hex(r.body ?? Buffer.alloc(0)),
  };
  if (r.authenticated) headers[AUTHENTICATED_HEADER] = '1';
  if (r.hops !== undefined) headers[HOPS_HEADER] = String(r.hops);
  if (r.path !== undefined) headers[PATH_HEADER] = r.path;
  headers[SIGNATURE_HEADER] = keys.mac('request', requestCanonical(r.method, r.target, headers));
  return headers;
}

/** True when the answer to the request with `nonce` is signed by `peer` (the node it was sent to). */
export function verifyResponse(
  keys: ClusterKeys,
  peer: string,
  nonce: string,
  res: { status: number; headers: IncomingHttpHeaders; body: Buffer },
): boolean {
  const mac = res.headers[SIGNATURE_HEADER];
  return typeof mac === 'string' && keys.verify('response', responseCanonical(peer, nonce, res.status, res.body), mac);
}

export interface VerifiedRequest {
  from: string;
  nonce: string;
  bodyDigest: string;
  /** The sender vouches that it authenticated the caller (private functions). */
  authenticated: boolean;
}

const single = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const v = headers[name];
  return typeof v === 'string' ? v : undefined;
};

export class RequestVerifier {
  private readonly nonces: ReplayCache;

  constructor(
    private readonly keys: ClusterKeys,
    private readonly nodeName: string,
    maxNonces = MAX_NONCES,
  ) {
    this.nonces = new ReplayCache(maxNonces);
  }

  /** Throws 401 for an unsigned request, 403 for a forged, misaddressed, stale or replayed one. */
  verify(method: string, target: string, headers: IncomingHttpHeaders, now = Date.now()): VerifiedRequest {
    const given: Record<string, string | undefined> = {};
    for (const name of SIGNED_HEADERS) given[name] = single(headers, name);
    const mac = single(headers, SIGNATURE_HEADER);
    const time = Number(given[TIME_HEADER]);
    const nonce = given[NONCE_HEADER];
    const digest = given[BODY_DIGEST_HEADER];
    const wellFormed =
      mac !== undefined &&
      /^\d{1,16}$/.test(given[TIME_HEADER] ?? '') &&
      /^[A-Za-z0-9_-]{16,64}$/.test(nonce ?? '') &&
      /^[0-9a-f]{64}$/.test(digest ?? '') &&
      !!given[TO_HEADER];
    if (!wellFormed || nonce === undefined || digest === undefined)
      throw new TernError(
        'unauthorized',
        `node-to-node calls must be signed with the cluster's key (${SIGNATURE_HEADER}, ${TIME_HEADER}, ${NONCE_HEADER}, ${BODY_DIGEST_HEADER}, ${TO_HEADER})`,
      );
    if (!this.keys.verify('request', requestCanonical(method, target, given), mac))
      throw new TernError(
        'forbidden',
        'the signature of this node-to-node call does not verify: another cluster secret, or the request was altered',
      );
    if (given[TO_HEADER] !== this.nodeName)
      throw new TernError('forbidden', `this call is signed for node "${given[TO_HEADER]}", not "${this.nodeName}"`);
    if (Math.abs(now - time) > CLOCK_ALLOWANCE_MS)
      throw new TernError(
        'forbidden',
        `this call was signed ${Math.round(Math.abs(now - time) / 1000)} s ${time < now ? 'ago' : "ahead of this node's clock"}, more than ±${CLOCK_ALLOWANCE_MS / 1000} s: a replay, or the nodes' clocks differ`,
      );
    const admitted = this.nonces.admit(nonce, time + CLOCK_ALLOWANCE_MS, now);
    if (admitted === 'replayed')
      throw new TernError('forbidden', 'this node-to-node call was already received (its nonce is used): a replay');
    if (admitted === 'full')
      throw new TernError('unavailable', 'too many node-to-node calls within the replay window; try again');
    return {
      from: given[FROM_HEADER] ?? '',
      nonce,
      bodyDigest: digest,
      authenticated: given[AUTHENTICATED_HEADER] === '1',
    };
  }

  /** Throws 403 when the body that arrived is not the one the sender signed. */
  checkBody(verified: VerifiedRequest, body: Buffer): void {
    if (sha256Hex(body) !== verified.bodyDigest)
      throw new TernError('forbidden', 'the body of this node-to-node call is not the one its signature covers');
  }

  /**
   * Only answers to a request that passed every check are signed: a signed refusal of a replayed
   * copy could otherwise stand in for the answer to the original.
   */
  signResponse(verified: VerifiedRequest, status: number, body: Buffer): string {
    return this.keys.mac('response', responseCanonical(this.nodeName, verified.nonce, status, body));
  }
}
