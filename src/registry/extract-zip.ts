/**
 * .zip extraction with yauzl: names decoded and checked by entry-rules (not yauzl's own checks,
 * so every refusal reads the same), Unix modes read from the external attributes, links and
 * devices refused, real bytes counted as they inflate.
 */
import { dirname, join } from 'node:path';
import * as zlib from 'node:zlib';
import yauzl from 'yauzl';
import { TernError } from '../core/errors.js';
import {
  Budget,
  fileMode,
  Folders,
  isJunk,
  refuse,
  safeRelativePath,
  SYMLINK_REFUSAL,
  writeCounted,
  type ArchiveLimits,
} from './entry-rules.js';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const MADE_BY_UNIX = 3;
const MADE_BY_OSX = 19;
const MSDOS_DIR_ATTRIBUTE = 0x10;

export function isZip(body: Buffer): boolean {
  if (body.length < 4 || body[0] !== 0x50 || body[1] !== 0x4b) return false;
  const sig = body.readUInt16LE(2);
  return sig === 0x0403 || sig === 0x0605;
}

interface EntryKind {
  kind: 'file' | 'dir';
  mode: number | undefined;
}

function kindOf(entry: yauzl.Entry, name: string): EntryKind {
  const madeBy = entry.versionMadeBy >>> 8;
  const unix = madeBy === MADE_BY_UNIX || madeBy === MADE_BY_OSX;
  const mode = unix ? (entry.externalFileAttributes >>> 16) & 0xffff : undefined;
  const type = mode === undefined ? 0 : mode & S_IFMT;
  if (type === S_IFLNK) throw refuse(name, SYMLINK_REFUSAL);
  if (type !== 0 && type !== S_IFREG && type !== S_IFDIR)
    throw refuse(name, 'device, FIFO and socket entries are not allowed');
  const dir =
    name.endsWith('/') || type === S_IFDIR || (!unix && (entry.externalFileAttributes & MSDOS_DIR_ATTRIBUTE) !== 0);
  return { kind: dir ? 'dir' : 'file', mode };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** zlib.crc32 arrived in Node 20.15; older 20.x get the table version. */
const crc32: (data: Uint8Array, value: number) => number =
  typeof zlib.crc32 === 'function'
    ? (data, value) => zlib.crc32(data, value)
    : (data, value) => {
        let c = ~value >>> 0;
        for (const b of data) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
        return ~c >>> 0;
      };

/** Pass chunks through, keeping their CRC-32 (yauzl does not check it; we do). */
async function* withCrc(source: AsyncIterable<Buffer>, state: { crc: number }): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    state.crc = crc32(chunk, state.crc);
    yield chunk;
  }
}

function openZip(archive: Buffer): Promise<yauzl.ZipFile> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(
      archive,
      { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, strictFileNames: false },
      (err, zip) => {
        if (err) reject(new TernError('bad_archive', `corrupt zip archive: ${err.message}`));
        else resolve(zip);
      },
    );
  });
}

export async function extractZip(archive: Buffer, dest: string, limits: ArchiveLimits): Promise<void> {
  if (!isZip(archive))
    throw new TernError('bad_archive', 'the archive is not a zip file (it does not start with the zip magic bytes)');
  const zip = await openZip(archive);
  if (zip.entryCount > limits.files) {
    zip.close();
    throw new TernError(
      'bad_archive',
      `the zip archive lists ${zip.entryCount} entries, more than the limit of ${limits.files} files and folders`,
    );
  }
  const budget = new Budget(limits);
  const folders = new Folders();
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', (e: Error) =>
        reject(e instanceof TernError ? e : new TernError('bad_archive', `corrupt zip archive: ${e.message}`)),
      );
      zip.on('end', () => resolve());
      zip.on('entry', (entry: yauzl.Entry) => {
        handleEntry(zip, entry, dest, budget, folders).then(() => zip.readEntry(), reject);
      });
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
}

async function handleEntry(
  zip: yauzl.ZipFile,
  entry: yauzl.Entry,
  dest: string,
  budget: Budget,
  folders: Folders,
): Promise<void> {
  // decodeStrings: false leaves the raw bytes in fileName; yauzl still knows the encodings.
  const raw = entry.fileName as unknown as Buffer;
  const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, raw, entry.extraFields, false);
  const { kind, mode } = kindOf(entry, name);
  const rel = safeRelativePath(name);
  if (rel === undefined || isJunk(rel)) return;
  budget.entry(name);
  const target = join(dest, rel);
  if (kind === 'dir') {
    await folders.ensure(target, name);
    return;
  }
  if (entry.isEncrypted()) throw refuse(name, 'encrypted entries are not supported');
  if (!entry.canDecodeFileData()) throw refuse(name, `unsupported zip compression method ${entry.compressionMethod}`);
  await folders.ensure(dirname(target), name);
  let stream;
  try {
    stream = await zip.openReadStreamPromise(entry);
  } catch (e) {
    throw refuse(name, `corrupt zip data: ${(e as Error).message}`);
  }
  // yauzl forwards inflate errors with a bare emit('error'), possibly before anyone reads:
  // keep the first and destroy the stream with it, so a reader waiting for data wakes up.
  let streamError: Error | undefined;
  stream.on('error', (e: Error) => {
    streamError ??= e;
    stream.destroy(e);
  });
  const sum = { crc: 0 };
  try {
    await writeCounted(target, withCrc(stream, sum), fileMode(mode), budget, name);
  } catch (e) {
    // File system errors (disk full) are ours to report as such; anything else came from inflating.
    if (e instanceof TernError || (e as NodeJS.ErrnoException).syscall !== undefined) throw e;
    throw refuse(name, `corrupt zip data: ${(streamError ?? (e as Error)).message}`);
  } finally {
    stream.destroy();
  }
  if (streamError) throw refuse(name, `corrupt zip data: ${streamError.message}`);
  if (sum.crc !== entry.crc32) throw refuse(name, 'corrupt zip data: CRC-32 mismatch');
}
