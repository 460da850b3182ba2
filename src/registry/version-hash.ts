/**
 * A version's identity: the first 16 hex digits of a sha256 over its sorted paths, exec bits and
 * contents. The same walk fsyncs every file and folder, so a version is durable before `current`
 * points at it.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';

interface Item {
  rel: string;
  kind: 'file' | 'dir';
}

async function list(root: string, rel = '', out: Item[] = []): Promise<Item[]> {
  for (const entry of await readdir(rel ? join(root, rel) : root, { withFileTypes: true })) {
    const child = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      out.push({ rel: child, kind: 'dir' });
      await list(root, child, out);
    } else if (entry.isFile()) {
      out.push({ rel: child, kind: 'file' });
    } else {
      // Extraction and copying only ever create files and folders.
      throw new Error(`unexpected non-regular entry ${JSON.stringify(child)} in ${root}`);
    }
  }
  return out;
}

async function hashFile(path: string, rel: string, hash: Hash): Promise<void> {
  const fh = await open(path, 'r');
  try {
    const info = await fh.stat();
    hash.update(`f\0${rel}\0${info.mode & 0o100 ? 'x' : '-'}\0${info.size}\0`);
    const buffer = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const { bytesRead } = await fh.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function syncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Hash `root` (a folder we wrote) and make it durable. */
export async function hashAndSyncFolder(root: string): Promise<string> {
  const items = (await list(root)).sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  const hash = createHash('sha256');
  for (const item of items) {
    const path = join(root, item.rel);
    if (item.kind === 'dir') {
      hash.update(`d\0${item.rel}\0`);
      await syncPath(path);
    } else {
      await hashFile(path, item.rel, hash);
    }
  }
  await syncPath(root);
  return hash.digest('hex').slice(0, 16);
}
