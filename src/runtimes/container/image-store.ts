/**
 * Images on this node: read from a function folder (a layout folder or an archive file) or
 * imported by name (`tern image import`, `PUT /v1/images/{name}`), unpacked into the shared
 * rootfs store. Names live in `<store>/names.json`: name -> config digest, chain and run config.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TernError } from '../../core/errors.js';
import { writeFileAtomic } from '../../registry/atomic-file.js';
import { KeyedSerial } from '../../core/keyed-serial.js';
import { unpackImageArchive } from './archive-unpack.js';
import { badImage } from './digest.js';
import type { ImageRunConfig } from './image-docs.js';
import { readImageFolder } from './image-read.js';
import { normalizeRef } from './image-ref.js';
import { RootfsStore, type StoreLimits } from './rootfs-store.js';

export interface PreparedImage {
  configDigest: string;
  chain: string;
  /** The unpacked root folder (read-only to containers). */
  rootfs: string;
  run: ImageRunConfig;
}

export interface NamedImage {
  name: string;
  configDigest: string;
  chain: string;
  run: ImageRunConfig;
  importedAt: string;
}

export interface ImageStoreLimits extends StoreLimits {
  /** Largest image archive (a file in a function folder, or an import), bytes. */
  archiveBytes: number;
}

const NAME_HOLDER = 'name:';

export class ImageStore {
  readonly rootfs: RootfsStore;
  private readonly names = new Map<string, NamedImage>();
  private readonly namesFile: string;
  private readonly workDir: string;
  private readonly serial = new KeyedSerial();
  private opened: Promise<void> | undefined;

  constructor(
    readonly dir: string,
    private readonly limits: ImageStoreLimits,
  ) {
    this.rootfs = new RootfsStore(join(dir, 'rootfs'), limits);
    this.namesFile = join(dir, 'names.json');
    this.workDir = join(dir, 'work');
  }

  /** Load the names, remove what an earlier run left half done. Idempotent. */
  open(): Promise<void> {
    this.opened ??= (async () => {
      await mkdir(this.dir, { recursive: true });
      await this.rootfs.sweep();
      await rm(this.workDir, { recursive: true, force: true });
      await rm(join(this.dir, 'uploads'), { recursive: true, force: true });
      const text = await readFile(this.namesFile, 'utf8').catch(() => '[]');
      for (const named of JSON.parse(text) as NamedImage[]) {
        this.names.set(named.name, named);
        this.rootfs.hold(named.chain, NAME_HOLDER + named.name);
      }
    })();
    return this.opened;
  }

  /** An image at `path`: an OCI layout or docker-archive folder, or an oci-archive / docker-archive file. */
  async fromPath(path: string, holder: string): Promise<PreparedImage & { refName?: string }> {
    await this.open();
    const info = await lstat(path).catch(() => undefined);
    if (info?.isDirectory()) return this.fromFolder(path, holder);
    if (!info?.isFile()) throw badImage(`${path}: not a folder or a file`);
    await mkdir(this.workDir, { recursive: true });
    const work = join(this.workDir, randomBytes(8).toString('hex'));
    try {
      await unpackImageArchive(path, work, { ...this.limits, unpackedBytes: this.limits.archiveBytes * 2 });
      return await this.fromFolder(work, holder);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  private async fromFolder(dir: string, holder: string): Promise<PreparedImage & { refName?: string }> {
    const content = await readImageFolder(dir);
    const rootfs = await this.rootfs.ensure(content, holder);
    return {
      configDigest: content.configDigest,
      chain: content.chain,
      rootfs,
      run: content.run,
      ...(content.refName ? { refName: content.refName } : {}),
    };
  }

  /** Import an archive under `name` (default: the name the archive carries). */
  async importArchive(file: string, name: string | undefined): Promise<NamedImage> {
    const holder = `import:${randomBytes(8).toString('hex')}`;
    try {
      const image = await this.fromPath(file, holder);
      const chosen = name ?? image.refName;
      const ref = chosen === undefined ? undefined : normalizeRef(chosen);
      if (ref === undefined)
        throw new TernError(
          'bad_request',
          chosen === undefined
            ? 'the archive names no image: give a name (PUT /v1/images/{name}, tern image import FILE NAME)'
            : `the archive's image name ${JSON.stringify(chosen)} is not a valid name: give one`,
        );
      const named: NamedImage = {
        name: ref,
        configDigest: image.configDigest,
        chain: image.chain,
        run: image.run,
        importedAt: new Date().toISOString(),
      };
      await this.serial.run('names', async () => {
        const old = this.names.get(ref);
        this.names.set(ref, named);
        this.rootfs.hold(named.chain, NAME_HOLDER + ref);
        await this.saveNames();
        if (old && old.chain !== named.chain) await this.rootfs.release(NAME_HOLDER + ref, old.chain);
      });
      return named;
    } finally {
      await this.rootfs.release(holder);
    }
  }

  /** An imported image by name, unpacked and held by `holder`; undefined when no such name. */
  async byName(ref: string, holder: string): Promise<PreparedImage | undefined> {
    await this.open();
    const named = this.names.get(ref);
    if (!named) return undefined;
    const rootfs = this.rootfs.path(named.chain);
    if (!(await lstat(rootfs).catch(() => undefined))?.isDirectory())
      throw badImage(`${ref}: its unpacked files are missing from ${rootfs}; import it again`);
    this.rootfs.hold(named.chain, holder);
    return { configDigest: named.configDigest, chain: named.chain, rootfs, run: named.run };
  }

  async list(): Promise<NamedImage[]> {
    await this.open();
    return [...this.names.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(ref: string): NamedImage | undefined {
    return this.names.get(ref);
  }

  async remove(ref: string): Promise<boolean> {
    await this.open();
    return this.serial.run('names', async () => {
      if (!this.names.delete(ref)) return false;
      await this.saveNames();
      await this.rootfs.release(NAME_HOLDER + ref);
      return true;
    });
  }

  private async saveNames(): Promise<void> {
    await writeFileAtomic(this.namesFile, `${JSON.stringify([...this.names.values()], null, 2)}\n`);
  }

  async close(): Promise<void> {
    await this.serial.close();
    await this.rootfs.close();
  }
}

/**
 * The normalised name of `image` when it was imported on the node whose store is `dir` (read from
 * names.json, which every change rewrites whole): for adapters that deploy by image name.
 */
export async function importedImageName(dir: string, image: string): Promise<string | undefined> {
  const ref = normalizeRef(image);
  if (ref === undefined) return undefined;
  const text = await readFile(join(dir, 'names.json'), 'utf8').catch(() => '[]');
  const names = JSON.parse(text) as { name?: unknown }[];
  return names.some((n) => n.name === ref) ? ref : undefined;
}
