/**
 * The content-addressed store of unpacked images: `<store>/rootfs/<chain id>/`, one folder per
 * stack of layers, shared by every function and version that runs it. A folder is unpacked once,
 * into a temporary name, and renamed into place only when every layer matched its digests, so a
 * folder under its final name is always whole. Holders (function folders, image names, running
 * instances) keep a folder; one that nothing holds is removed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Budget } from '../../registry/entry-rules.js';
import { KeyedSerial } from '../../core/keyed-serial.js';
import { digestHex } from './digest.js';
import type { ImageContent } from './image-read.js';
import { applyLayer } from './layer-apply.js';
import { layerTar, verifyBlob, verifyLayer } from './layer-stream.js';

export interface StoreLimits {
  /** Largest blob (a compressed layer), bytes. */
  blobBytes: number;
  /** Sum of the unpacked files of one image, bytes. */
  unpackedBytes: number;
  /** Entries of one image, all layers together. */
  files: number;
}

/** Mount points the OCI runtime needs: made here, so it never writes into a shared root folder. */
const MOUNT_POINTS = ['proc', 'dev', 'tmp'];
const TAR_OVERHEAD_PER_ENTRY = 8192;

export class RootfsStore {
  private readonly serial = new KeyedSerial();
  private readonly holders = new Map<string, Set<string>>();

  constructor(
    readonly dir: string,
    private readonly limits: StoreLimits,
  ) {}

  path(chain: string): string {
    return join(this.dir, digestHex(chain, 'chain id'));
  }

  /** Remove half-unpacked folders a stopped node left. */
  async sweep(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    for (const name of await readdir(this.dir))
      if (name.startsWith('.tmp-')) await rm(join(this.dir, name), { recursive: true, force: true });
  }

  /**
   * The root folder of `content`, unpacked if not yet there, held by `holder`. Every layer blob is
   * checked against its digests either way; a mismatch leaves nothing behind.
   */
  ensure(content: ImageContent, holder: string): Promise<string> {
    return this.serial.run(content.chain, async () => {
      const final = this.path(content.chain);
      if ((await stat(final).catch(() => undefined))?.isDirectory()) {
        // Unpacked already from layers with these diff ids: the blobs need only match their digests
        // (docker-archive layers have none: their tar is checked against its diff id instead).
        for (const layer of content.layers)
          if (layer.digest !== undefined) await verifyBlob(layer, this.limits.blobBytes);
          else await verifyLayer(layer, this.limits.blobBytes);
      } else {
        await this.unpack(content, final);
      }
      this.hold(content.chain, holder);
      return final;
    });
  }

  private async unpack(content: ImageContent, final: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const temp = join(this.dir, `.tmp-${randomBytes(8).toString('hex')}`);
    await mkdir(temp, { mode: 0o755 });
    try {
      const budget = new Budget({ archiveBytes: this.limits.blobBytes, ...this.limits });
      const maxTarBytes = this.limits.unpackedBytes + (this.limits.files + 1) * TAR_OVERHEAD_PER_ENTRY;
      // Blobs are checked before any byte of them is parsed; diff ids as they are unpacked.
      for (const layer of content.layers) await verifyBlob(layer, this.limits.blobBytes);
      for (const layer of content.layers)
        await applyLayer(layerTar(layer, this.limits.blobBytes), temp, { what: layer.what, budget, maxTarBytes });
      for (const point of MOUNT_POINTS) {
        const path = join(temp, point);
        if (!existsSync(path)) await mkdir(path, { mode: 0o755 });
      }
      // Where a function granted the network gets its resolv.conf mounted (only a missing one is made).
      const etc = await lstat(join(temp, 'etc')).catch(() => undefined);
      if (etc?.isDirectory() && !(await lstat(join(temp, 'etc', 'resolv.conf')).catch(() => undefined)))
        await writeFile(join(temp, 'etc', 'resolv.conf'), '', { mode: 0o644 });
      await chmod(temp, 0o755);
      await rename(temp, final);
    } catch (e) {
      await rm(temp, { recursive: true, force: true });
      throw e;
    }
  }

  hold(chain: string, holder: string): void {
    let set = this.holders.get(chain);
    if (!set) this.holders.set(chain, (set = new Set()));
    set.add(holder);
  }

  /** Let go of `holder`'s folders (or only `only`); those nothing else holds are removed. */
  async release(holder: string, only?: string): Promise<void> {
    const freed: string[] = [];
    for (const [chain, set] of this.holders) {
      if (only !== undefined && chain !== only) continue;
      if (set.delete(holder) && set.size === 0) freed.push(chain);
    }
    for (const chain of freed) {
      await this.serial.run(chain, async () => {
        if ((this.holders.get(chain)?.size ?? 0) > 0) return;
        this.holders.delete(chain);
        await rm(this.path(chain), { recursive: true, force: true });
      });
    }
  }

  /** Holders that are folders gone from disk (a deploy's staging folder) no longer hold anything. */
  async releaseMissingFolders(isFolder: (holder: string) => boolean): Promise<void> {
    const gone = new Set<string>();
    for (const set of this.holders.values()) for (const h of set) if (isFolder(h) && !existsSync(h)) gone.add(h);
    for (const h of gone) await this.release(h);
  }

  async close(): Promise<void> {
    await this.serial.close();
  }
}
