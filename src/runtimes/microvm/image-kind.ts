/**
 * What a [vm] image is, by its first bytes: an initramfs (a cpio archive, raw or compressed in
 * any way the kernel unpacks) goes to -initrd; a disk image (raw or qcow2) becomes a virtio-blk drive.
 */
import { open } from 'node:fs/promises';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { TernError } from '../../core/errors.js';

export type ImageKind = { kind: 'initramfs' } | { kind: 'disk'; format: 'raw' | 'qcow2' };

const HEAD_BYTES = 64 * 1024;
const CPIO_MAGICS = ['070701', '070702', '070707'];

function startsWith(head: Buffer, bytes: number[], at = 0): boolean {
  return head.length >= at + bytes.length && bytes.every((b, i) => head[at + i] === b);
}

function isCpio(head: Buffer): boolean {
  return CPIO_MAGICS.includes(head.subarray(0, 6).toString('latin1'));
}

/** Other compressions the kernel can unpack an initramfs from (xz, zstd, lz4, bzip2, lzma, lzo). */
function isOtherCompression(head: Buffer): boolean {
  return (
    startsWith(head, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) ||
    startsWith(head, [0x28, 0xb5, 0x2f, 0xfd]) ||
    startsWith(head, [0x02, 0x21, 0x4c, 0x18]) ||
    startsWith(head, [0x42, 0x5a, 0x68]) ||
    startsWith(head, [0x5d, 0x00, 0x00]) ||
    startsWith(head, [0x89, 0x4c, 0x5a, 0x4f])
  );
}

/** Classify the first bytes of an image; `name` is only for messages. */
export function classifyImage(head: Buffer, name: string): ImageKind {
  if (head.length === 0) throw new TernError('bad_spec', `vm.image: ${name} is empty`);
  if (isCpio(head)) return { kind: 'initramfs' };
  if (startsWith(head, [0x1f, 0x8b])) {
    // A truncated gzip stream: decompress what the head holds, enough to see the cpio magic.
    let inner: Buffer;
    try {
      inner = gunzipSync(head, { finishFlush: zlibConstants.Z_SYNC_FLUSH });
    } catch {
      throw new TernError('bad_spec', `vm.image: ${name} is not a valid gzip file`);
    }
    if (isCpio(inner)) return { kind: 'initramfs' };
    throw new TernError(
      'bad_spec',
      `vm.image: ${name} is gzip-compressed but not a cpio archive (an initramfs); a disk image must not be compressed`,
    );
  }
  if (isOtherCompression(head)) return { kind: 'initramfs' };
  if (startsWith(head, [0x51, 0x46, 0x49, 0xfb])) return { kind: 'disk', format: 'qcow2' };
  // Anything else (ext4, squashfs, a partitioned disk, a unikernel's own format) is a raw disk.
  return { kind: 'disk', format: 'raw' };
}

export async function detectImageKind(path: string, name: string): Promise<ImageKind> {
  const handle = await open(path, 'r');
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await handle.read(head, 0, HEAD_BYTES, 0);
    return classifyImage(head.subarray(0, bytesRead), name);
  } finally {
    await handle.close();
  }
}
