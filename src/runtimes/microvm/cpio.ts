/**
 * A writer for the "newc" cpio format (the one Linux unpacks as an initramfs), enough for the
 * probe's tiny image: directories, regular files and device nodes, all owned by root.
 */
export type CpioEntry =
  | { kind: 'dir'; path: string; mode?: number }
  | { kind: 'file'; path: string; data: Buffer; mode?: number }
  | { kind: 'chardev'; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

function hex8(n: number): string {
  return n.toString(16).padStart(8, '0');
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function record(ino: number, name: string, mode: number, data: Buffer, rdev: [number, number]): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0];
  const header = Buffer.from(`070701${fields.map(hex8).join('')}`, 'ascii');
  return [header, nameBytes, pad4(header.length + nameBytes.length), data, pad4(data.length)];
}

/** The archive bytes, uncompressed (the kernel takes it as is). */
export function writeCpio(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const path = e.path.replace(/^\/+/, '');
    if (e.kind === 'dir') parts.push(...record(ino++, path, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0), [0, 0]));
    else if (e.kind === 'file') parts.push(...record(ino++, path, S_IFREG | (e.mode ?? 0o644), e.data, [0, 0]));
    else parts.push(...record(ino++, path, S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), [e.major, e.minor]));
  }
  parts.push(...record(0, 'TRAILER!!!', 0, Buffer.alloc(0), [0, 0]));
  return Buffer.concat(parts);
}
