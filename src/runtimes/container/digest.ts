/**
 * Content digests as OCI writes them ("sha256:<64 hex>"): parsing, hashing files and streams with
 * a bound, and the chain id that names an unpacked stack of layers.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { TernError } from '../../core/errors.js';

const SHA256 = /^sha256:([0-9a-f]{64})$/;

/** The hex part of a sha256 digest; other algorithms and malformed digests are refused, naming `what`. */
export function digestHex(digest: unknown, what: string): string {
  if (typeof digest !== 'string') throw badImage(`${what}: digest missing`);
  const m = SHA256.exec(digest);
  if (!m) {
    const algorithm = digest.split(':')[0] ?? '';
    throw badImage(
      algorithm !== 'sha256' && digest.includes(':')
        ? `${what}: digest algorithm ${JSON.stringify(algorithm.slice(0, 20))} is not supported (only sha256)`
        : `${what}: malformed digest ${JSON.stringify(digest.slice(0, 80))}`,
    );
  }
  return m[1]!;
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The error every refusal of an image becomes: a 400 at deploy and at import. */
export function badImage(message: string): TernError {
  return new TernError('bad_archive', `image: ${message}`);
}

/** Counts and hashes bytes as they pass; `check` compares with what a descriptor promised. */
export class DigestCounter {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  update(chunk: Buffer): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
  }

  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** Hash a whole file, refusing one larger than `maxBytes`; resolves with its digest and size. */
export async function digestFile(
  path: string,
  maxBytes: number,
  what: string,
): Promise<{ digest: string; size: number }> {
  const counter = new DigestCounter();
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    counter.update(chunk);
    if (counter.bytes > maxBytes) throw badImage(`${what}: larger than the limit of ${maxBytes} bytes`);
  }
  return { digest: counter.digest(), size: counter.bytes };
}

/** OCI's ChainID: the first layer's diff id, then sha256("<parent chain> <diff id>") for each next layer. */
export function chainId(diffIds: readonly string[]): string {
  let chain = '';
  for (const diffId of diffIds) chain = chain === '' ? diffId : sha256Digest(`${chain} ${diffId}`);
  return chain;
}
