/**
 * What OpenFaaS reports but function.toml has no key for (image, labels, annotations, envProcess,
 * constraints, the scaled replica count) travels in a small JSON file inside the function folder,
 * so it survives restarts and moves with the version it describes.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

export const META_FILE = '.openfaas.json';

const metaSchema = z
  .object({
    /** Absent for a function first deployed another way and then scaled. */
    image: z.string().optional(),
    envProcess: z.string().optional(),
    labels: z.record(z.string(), z.string()).default({}),
    annotations: z.record(z.string(), z.string()).default({}),
    constraints: z.array(z.string()).default([]),
    readOnlyRootFilesystem: z.boolean().optional(),
    /** Set by scale-function; an update keeps it. */
    replicas: z.number().int().min(0).optional(),
    /** The first deploy's time (ISO 8601): updates and scaling keep it, as OpenFaaS's createdAt. */
    createdAt: z.string().optional(),
  })
  .loose();

export type OpenfaasMeta = z.output<typeof metaSchema>;

const MAX_CACHED = 1000;

/** Version folders never change, so a read per folder is enough. */
export class MetaCache {
  private readonly cache = new Map<string, OpenfaasMeta | null>();

  async read(dir: string): Promise<OpenfaasMeta | undefined> {
    const hit = this.cache.get(dir);
    if (hit !== undefined) return hit ?? undefined;
    const meta = await readFile(join(dir, META_FILE), 'utf8')
      .then((text) => metaSchema.safeParse(JSON.parse(text)))
      .then((parsed) => (parsed.success ? parsed.data : null))
      .catch(() => null);
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(dir, meta);
    return meta ?? undefined;
  }
}
