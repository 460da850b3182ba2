/** Archive builders and folder helpers for the registry tests: real tar.gz and zip bytes. */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { deflateRawSync, gzipSync } from 'node:zlib';
import { Header, type HeaderData } from 'tar';

const run = promisify(execFile);

export const LIMITS = { archiveBytes: 8 * 1024 * 1024, unpackedBytes: 4 * 1024 * 1024, files: 100 };

export const PY_TOML = 'runtime = "python"\nhandler = "main:handle"\n';
export const PY_FILES = { 'function.toml': PY_TOML, 'main.py': 'def handle(req):\n    return "hi\\n"\n' };

/** A temp folder removed by the returned cleanup. */
export async function tempDir(prefix = 'tern-reg-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function writeFiles(dir: string, files: Record<string, string | Buffer>): Promise<void> {
  for (const [name, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), content);
  }
}

/** Every path under `dir` with a short content digest (files), "dir" (folders) or "-> target" (links). */
export async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const abs = rel ? join(dir, rel) : dir;
    for (const name of (await readdir(abs)).sort()) {
      const childRel = rel ? `${rel}/${name}` : name;
      const info = await lstat(join(dir, childRel));
      if (info.isSymbolicLink()) out.push(`${childRel} -> ${await readlink(join(dir, childRel))}`);
      else if (info.isDirectory()) {
        out.push(`${childRel}/`);
        await walk(childRel);
      } else
        out.push(
          `${childRel} ${createHash('sha256')
            .update(await readFile(join(dir, childRel)))
            .digest('hex')
            .slice(0, 8)}`,
        );
    }
  };
  await walk('');
  return out;
}

export interface TarEntry extends HeaderData {
  path: string;
  data?: string | Buffer;
}

/** A tar.gz whose headers are written verbatim by tar's Header encoder (no path sanitising). */
export function rawTarGz(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const { data, ...header } of entries) {
    const body = data === undefined ? Buffer.alloc(0) : Buffer.from(data);
    const block = Buffer.alloc(512);
    new Header({ mode: 0o644, mtime: new Date(0), type: 'File', size: body.length, ...header }).encode(block, 0);
    blocks.push(block, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface ZipEntry {
  name: string;
  data?: string | Buffer;
  /** Unix mode with type bits (0o100644 file, 0o040755 folder, 0o120777 link). */
  mode?: number;
  /** Write this uncompressed size into the headers instead of the true one. */
  claimedSize?: number;
}

/** A deflate zip built byte by byte, names verbatim, Unix modes in the external attributes. */
export function rawZip(entries: ZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    const packed = deflateRawSync(data);
    const crc = crc32(data);
    const size = e.claimedSize ?? data.length;
    const mode = e.mode ?? (e.name.endsWith('/') ? 0o040755 : 0o100644);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x800, 6);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x800, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(packed.length, 20);
    central.writeUInt32LE(size, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE((mode << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, packed);
    centrals.push(central, name);
    offset += local.length + name.length + packed.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** Info-ZIP's `zip`, if this machine has it (the test using it is skipped otherwise). */
export async function hasZipCommand(): Promise<boolean> {
  return run('zip', ['-v']).then(
    () => true,
    () => false,
  );
}

/** `cd cwd && zip -r -y - paths...` */
export async function zipWithCommand(cwd: string, paths: string[]): Promise<Buffer> {
  const out = join(await tempDir('tern-zip-'), 'out.zip');
  try {
    await run('zip', ['-q', '-r', '-y', out, ...paths], { cwd });
    return await readFile(out);
  } finally {
    await rm(dirname(out), { recursive: true, force: true });
  }
}
