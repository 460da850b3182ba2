/**
 * A layer blob as a stream of tar bytes: gzip or plain (by its first bytes, not its media type),
 * every byte counted and hashed twice: the blob against its descriptor's digest and size, the
 * tar against the config's diff id. A mismatch throws when the stream ends, so whatever was
 * unpacked from it is thrown away by the caller.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { badImage, DigestCounter, digestFile } from './digest.js';

export interface LayerSource {
  /** The blob on disk. */
  path: string;
  /** The uncompressed tar's digest (config rootfs.diff_ids). */
  diffId: string;
  /** The blob's digest and size from its descriptor (absent in docker-archive, where the blob is the tar). */
  digest?: string;
  size?: number;
  /** "layer 2 (sha256:…)", for messages. */
  what: string;
}

async function firstBytes(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buffer, 0, n, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

function kindOf(head: Buffer): 'gzip' | 'zstd' | 'tar' {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'tar';
}

export async function* layerTar(layer: LayerSource, maxBlobBytes: number): AsyncGenerator<Buffer> {
  const kind = kindOf(await firstBytes(layer.path, 4));
  if (kind === 'zstd')
    throw badImage(`${layer.what}: zstd-compressed layers are not supported; build the image with gzip layers`);
  const blob = new DigestCounter();
  const tar = new DigestCounter();
  const file = createReadStream(layer.path);
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of file as AsyncIterable<Buffer>) {
      blob.update(chunk);
      if (blob.bytes > maxBlobBytes) throw badImage(`${layer.what}: larger than the limit of ${maxBlobBytes} bytes`);
      yield chunk;
    }
  }
  const raw = Readable.from(counted());
  let plain: Readable = raw;
  if (kind === 'gzip') {
    const gunzip = createGunzip();
    raw.on('error', (e) => gunzip.destroy(e));
    plain = raw.pipe(gunzip);
  }
  try {
    for await (const chunk of plain as AsyncIterable<Buffer>) {
      tar.update(chunk);
      yield chunk;
    }
  } catch (e) {
    throw (e as { code?: string }).code?.startsWith('Z_') ? badImage(`${layer.what}: corrupt gzip data`) : e;
  } finally {
    raw.destroy();
    plain.destroy();
    file.destroy();
  }
  if (layer.size !== undefined && blob.bytes !== layer.size)
    throw badImage(`${layer.what}: the blob has ${blob.bytes} bytes, its descriptor says ${layer.size}`);
  if (layer.digest !== undefined && blob.digest() !== layer.digest)
    throw badImage(`${layer.what}: the blob's sha256 does not match its digest (corrupt or altered)`);
  if (tar.digest() !== layer.diffId)
    throw badImage(`${layer.what}: the uncompressed layer does not match its diff id in the image config`);
}

/** Read a layer to its end only to check its digests. */
export async function verifyLayer(layer: LayerSource, maxBlobBytes: number): Promise<void> {
  for await (const chunk of layerTar(layer, maxBlobBytes)) void chunk;
}

/** Check a layer blob against its descriptor before any of it is parsed (docker-archive layers have none). */
export async function verifyBlob(layer: LayerSource, maxBlobBytes: number): Promise<void> {
  if (layer.digest === undefined) return;
  const { digest, size } = await digestFile(layer.path, maxBlobBytes, layer.what);
  if (layer.size !== undefined && size !== layer.size)
    throw badImage(`${layer.what}: the blob has ${size} bytes, its descriptor says ${layer.size}`);
  if (digest !== layer.digest)
    throw badImage(`${layer.what}: the blob's sha256 does not match its digest (corrupt or altered)`);
}
