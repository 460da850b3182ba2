/**
 * Node-to-node calls carry the cluster secret in their own header, so they never mix with the
 * management token or with the Authorization header a forwarded call carries for its function.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { TernError } from '../core/errors.js';

export const SECRET_HEADER = 'x-tern-cluster-secret';

export class ClusterSecret {
  private readonly expected: Buffer;

  constructor(secret: string) {
    this.expected = Buffer.from(secret);
  }

  /** The header a peer call sends. */
  header(): Record<string, string> {
    return { [SECRET_HEADER]: this.expected.toString() };
  }

  /** Throws 401 without the secret, 403 with a wrong one. */
  require(headers: IncomingHttpHeaders): void {
    const given = headers[SECRET_HEADER];
    if (typeof given !== 'string' || given === '') {
      throw new TernError('unauthorized', `node-to-node calls need the cluster secret in the ${SECRET_HEADER} header`);
    }
    const buf = Buffer.from(given);
    if (buf.length !== this.expected.length || !timingSafeEqual(buf, this.expected)) {
      throw new TernError('forbidden', 'the cluster secret is not valid for this cluster');
    }
  }
}
