/**
 * The read-only preopen a function gets with `files = true`: its own folder at "/" (fd 3).
 * Every path is resolved inside that folder (symlinks included); anything that would leave it
 * gets ENOTCAPABLE, anything that would write gets EROFS. Runs in the worker, synchronously.
 */
import {
  closeSync,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readSync,
  realpathSync,
  statSync,
  type BigIntStats,
} from 'node:fs';
import { join, posix, sep } from 'node:path';
import {
  DIR_READ_RIGHTS,
  ERRNO,
  FDFLAGS,
  FILE_READ_RIGHTS,
  FILETYPE,
  OFLAGS,
  WHENCE,
  WRITE_RIGHTS,
} from './wasi-constants.js';

export const PREOPEN_FD = 3;
export const PREOPEN_NAME = '/';
const MAX_OPEN = 64;

interface DirEntryCache {
  name: Buffer;
  type: number;
  ino: bigint;
}

export type OpenEntry =
  | { kind: 'dir'; rel: string; real: string; listing?: DirEntryCache[] }
  | { kind: 'file'; real: string; fd: number; pos: number };

export type Resolved = { errno: number } | { real: string; rel: string };

function errnoOf(e: unknown): number {
  switch ((e as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return ERRNO.NOENT;
    case 'ENOTDIR':
      return ERRNO.NOTDIR;
    case 'EACCES':
      return ERRNO.ACCES;
    case 'EISDIR':
      return ERRNO.ISDIR;
    case 'ENAMETOOLONG':
      return ERRNO.NAMETOOLONG;
    case 'ELOOP':
      return ERRNO.NOTCAPABLE;
    default:
      return ERRNO.IO;
  }
}

export function filetypeOf(st: { isDirectory(): boolean; isFile(): boolean; isSymbolicLink(): boolean }): number {
  if (st.isDirectory()) return FILETYPE.DIRECTORY;
  if (st.isFile()) return FILETYPE.REGULAR_FILE;
  if (st.isSymbolicLink()) return FILETYPE.SYMBOLIC_LINK;
  return FILETYPE.UNKNOWN;
}

/** filestat: dev, ino, filetype, nlink, size, atim, mtim, ctim (64 bytes). */
export function writeFilestat(dv: DataView, ptr: number, st: BigIntStats): void {
  dv.setBigUint64(ptr, st.dev, true);
  dv.setBigUint64(ptr + 8, st.ino, true);
  dv.setUint8(ptr + 16, filetypeOf(st));
  dv.setBigUint64(ptr + 24, st.nlink, true);
  dv.setBigUint64(ptr + 32, st.size, true);
  dv.setBigUint64(ptr + 40, st.atimeNs, true);
  dv.setBigUint64(ptr + 48, st.mtimeNs, true);
  dv.setBigUint64(ptr + 56, st.ctimeNs, true);
}

export class ReadOnlyTree {
  private readonly root: string;
  private readonly open = new Map<number, OpenEntry>();

  constructor(folder: string) {
    this.root = realpathSync(folder);
    this.reset();
  }

  /** Back to just the preopen, closing whatever the last call left open. */
  reset(): void {
    for (const e of this.open.values()) if (e.kind === 'file') closeQuietly(e.fd);
    this.open.clear();
    this.open.set(PREOPEN_FD, { kind: 'dir', rel: '.', real: this.root });
  }

  get(fd: number): OpenEntry | undefined {
    return this.open.get(fd);
  }

  /** Resolve `path` relative to directory fd `dirFd`, following symlinks, never leaving the root. */
  resolve(dirFd: number, path: string): Resolved {
    const dir = this.open.get(dirFd);
    if (!dir) return { errno: ERRNO.BADF };
    if (dir.kind !== 'dir') return { errno: ERRNO.NOTDIR };
    if (path.includes('\0')) return { errno: ERRNO.INVAL };
    if (path.startsWith('/')) return { errno: ERRNO.NOTCAPABLE };
    const rel = posix.normalize(posix.join(dir.rel, path));
    if (rel === '..' || rel.startsWith('../')) return { errno: ERRNO.NOTCAPABLE };
    let real: string;
    try {
      real = realpathSync(rel === '.' ? this.root : join(this.root, rel));
    } catch (e) {
      return { errno: errnoOf(e) };
    }
    if (real !== this.root && !real.startsWith(this.root + sep)) return { errno: ERRNO.NOTCAPABLE };
    return {
      real,
      rel:
        real === this.root
          ? '.'
          : real
              .slice(this.root.length + 1)
              .split(sep)
              .join('/'),
    };
  }

  /** path_open, read-only. Returns the new fd, or an errno as a negative number. */
  openAt(
    dirFd: number,
    path: string,
    oflags: number,
    rightsBase: bigint,
    fdflags: number,
  ): { fd: number } | { errno: number } {
    if (oflags & (OFLAGS.CREAT | OFLAGS.EXCL | OFLAGS.TRUNC) || fdflags & FDFLAGS.APPEND || rightsBase & WRITE_RIGHTS)
      return { errno: ERRNO.ROFS };
    const r = this.resolve(dirFd, path);
    if ('errno' in r) return r;
    if (this.open.size >= MAX_OPEN) return { errno: ERRNO.MFILE };
    let isDir: boolean;
    try {
      isDir = statSync(r.real).isDirectory();
    } catch (e) {
      return { errno: errnoOf(e) };
    }
    if (oflags & OFLAGS.DIRECTORY && !isDir) return { errno: ERRNO.NOTDIR };
    let fd = PREOPEN_FD + 1;
    while (this.open.has(fd)) fd++;
    if (isDir) {
      this.open.set(fd, { kind: 'dir', rel: r.rel, real: r.real });
      return { fd };
    }
    try {
      this.open.set(fd, { kind: 'file', real: r.real, fd: openSync(r.real, 'r'), pos: 0 });
    } catch (e) {
      return { errno: errnoOf(e) };
    }
    return { fd };
  }

  close(fd: number): number {
    const e = this.open.get(fd);
    if (!e) return ERRNO.BADF;
    if (e.kind === 'file') closeQuietly(e.fd);
    this.open.delete(fd);
    return ERRNO.SUCCESS;
  }

  /** Read into `target` at the file's position (or at `position`, leaving the file's own alone). */
  read(
    fd: number,
    target: Uint8Array,
    offset: number,
    length: number,
    position?: number,
  ): { n: number } | { errno: number } {
    const e = this.open.get(fd);
    if (!e) return { errno: ERRNO.BADF };
    if (e.kind !== 'file') return { errno: ERRNO.ISDIR };
    try {
      const n = readSync(e.fd, target, offset, length, position ?? e.pos);
      if (position === undefined) e.pos += n;
      return { n };
    } catch (err) {
      return { errno: errnoOf(err) };
    }
  }

  seek(fd: number, offset: bigint, whence: number): { pos: number } | { errno: number } {
    const e = this.open.get(fd);
    if (!e) return { errno: ERRNO.BADF };
    if (e.kind !== 'file') return { errno: ERRNO.SPIPE };
    let base: number;
    if (whence === WHENCE.SET) base = 0;
    else if (whence === WHENCE.CUR) base = e.pos;
    else if (whence === WHENCE.END) base = fstatSync(e.fd).size;
    else return { errno: ERRNO.INVAL };
    const pos = base + Number(offset);
    if (!Number.isSafeInteger(pos) || pos < 0) return { errno: ERRNO.INVAL };
    e.pos = pos;
    return { pos };
  }

  stat(fd: number): BigIntStats | { errno: number } {
    const e = this.open.get(fd);
    if (!e) return { errno: ERRNO.BADF };
    try {
      return e.kind === 'file' ? fstatSync(e.fd, { bigint: true }) : statSync(e.real, { bigint: true });
    } catch (err) {
      return { errno: errnoOf(err) };
    }
  }

  statPath(dirFd: number, path: string): BigIntStats | { errno: number } {
    const r = this.resolve(dirFd, path);
    if ('errno' in r) return r;
    try {
      return statSync(r.real, { bigint: true });
    } catch (err) {
      return { errno: errnoOf(err) };
    }
  }

  /** Directory entries (without "." and ".."), listed once per open directory and rewound at cookie 0. */
  entries(fd: number, cookie: number): DirEntryCache[] | { errno: number } {
    const e = this.open.get(fd);
    if (!e) return { errno: ERRNO.BADF };
    if (e.kind !== 'dir') return { errno: ERRNO.NOTDIR };
    if (!e.listing || cookie === 0) {
      try {
        e.listing = readdirSync(e.real, { withFileTypes: true }).map((d) => ({
          name: Buffer.from(d.name),
          type: filetypeOf(d),
          ino: lstatSync(join(e.real, d.name), { bigint: true }).ino,
        }));
      } catch (err) {
        return { errno: errnoOf(err) };
      }
    }
    return e.listing;
  }

  rights(fd: number): { filetype: number; base: bigint; inheriting: bigint } | undefined {
    const e = this.open.get(fd);
    if (!e) return undefined;
    return e.kind === 'dir'
      ? { filetype: FILETYPE.DIRECTORY, base: DIR_READ_RIGHTS, inheriting: DIR_READ_RIGHTS | FILE_READ_RIGHTS }
      : { filetype: FILETYPE.REGULAR_FILE, base: FILE_READ_RIGHTS, inheriting: 0n };
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed: nothing to release
  }
}
