/**
 * What this node holds of each function for the cluster, beside the folder store:
 *
 *   <root>/<name>/meta.json            {version, localVersion, type, sha256, bytes}
 *   <root>/<name>/<sha256>.<tar.gz|zip> the archive as it was deployed, served to peers that fetch it
 *
 * `version` is the cluster's version of the function (the deploying node's content hash); the
 * local folder store may hash the same code differently once the runtime has prepared it
 * (installed dependencies), so `localVersion` records which local version it is. meta.json is
 * replaced atomically and names its archive, so a reader sees one consistent pair.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../registry/atomic-file.js';
import type { ArchiveType } from '../registry/registry.js';
import { NAME_PATTERN } from '../registry/spec.js';

const metaSchema = z.object({
  version: z.string().regex(/^[0-9a-f]{16}$/),
  localVersion: z.string().regex(/^[0-9a-f]{16}$/),
  type: z.enum(['tar.gz', 'zip']),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().min(1),
});

export type HeldArchive = z.output<typeof metaSchema>;

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

const fileOf = (meta: HeldArchive) => `${meta.sha256}.${meta.type}`;

export class ArchiveStore {
  private readonly held = new Map<string, HeldArchive>();

  constructor(private readonly root: string) {}

  async open(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    this.held.clear();
    for (const name of await readdir(this.root)) {
      if (!NAME_PATTERN.test(name)) continue;
      const meta = await readFile(join(this.root, name, 'meta.json'), 'utf8')
        .then((text) => metaSchema.safeParse(JSON.parse(text)))
        .catch(() => undefined);
      if (meta?.success) {
        this.held.set(name, meta.data);
        await this.dropOthers(name, meta.data);
      } else {
        await rm(join(this.root, name), { recursive: true, force: true });
      }
    }
  }

  get(name: string): HeldArchive | undefined {
    return this.held.get(name);
  }

  /** The archive of `name`, if this node holds that version (any version when none is asked). */
  async read(name: string, version?: string): Promise<{ meta: HeldArchive; data: Buffer } | undefined> {
    const meta = this.held.get(name);
    if (!meta || (version !== undefined && meta.version !== version)) return undefined;
    const data = await readFile(join(this.root, name, fileOf(meta))).catch(() => undefined);
    if (!data || sha256(data) !== meta.sha256) return undefined;
    return { meta, data };
  }

  async put(
    name: string,
    info: { version: string; localVersion: string; type: ArchiveType },
    data: Buffer,
  ): Promise<HeldArchive> {
    const meta: HeldArchive = { ...info, sha256: sha256(data), bytes: data.length };
    const dir = join(this.root, name);
    await mkdir(dir, { recursive: true });
    const final = join(dir, fileOf(meta));
    const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(tmp, data, { flag: 'wx' });
      await rename(tmp, final);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    await writeFileAtomic(join(dir, 'meta.json'), `${JSON.stringify(meta)}\n`);
    this.held.set(name, meta);
    await this.dropOthers(name, meta);
    return meta;
  }

  async remove(name: string): Promise<void> {
    this.held.delete(name);
    await rm(join(this.root, name), { recursive: true, force: true });
  }

  /** Keep meta.json and the archive it names; anything else is an earlier version or a leftover. */
  private async dropOthers(name: string, meta: HeldArchive): Promise<void> {
    const dir = join(this.root, name);
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      if (f !== 'meta.json' && f !== fileOf(meta)) await rm(join(dir, f), { force: true });
    }
  }
}
