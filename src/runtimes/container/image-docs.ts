/**
 * The JSON documents of an image, validated: OCI's index, manifest and config (Docker's v2
 * manifest and manifest list have the same shape) and docker-archive's manifest.json.
 */
import { z } from 'zod';
import { badImage } from './digest.js';

/** More layers than this is not an image anyone builds on purpose. */
export const MAX_LAYERS = 128;
/** Index, manifest and config blobs are small JSON documents. */
export const MAX_JSON_BYTES = 4 * 1024 * 1024;

const descriptor = z
  .object({
    mediaType: z.string().optional(),
    digest: z.string(),
    size: z.number().int().min(0),
    platform: z.object({ architecture: z.string(), os: z.string() }).loose().optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .loose();
export type Descriptor = z.infer<typeof descriptor>;

export const layoutMarkerSchema = z.object({ imageLayoutVersion: z.string() }).loose();

export const indexSchema = z
  .object({ schemaVersion: z.literal(2), manifests: z.array(descriptor).min(1).max(1000) })
  .loose();

export const manifestSchema = z
  .object({ schemaVersion: z.literal(2), config: descriptor, layers: z.array(descriptor).max(MAX_LAYERS) })
  .loose();

const stringList = z.array(z.string()).nullable().optional();

export const configSchema = z
  .object({
    architecture: z.string().optional(),
    os: z.string().optional(),
    config: z
      .object({
        Entrypoint: stringList,
        Cmd: stringList,
        Env: stringList,
        WorkingDir: z.string().optional(),
        User: z.string().optional(),
      })
      .loose()
      .nullable()
      .optional(),
    rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(z.string()).max(MAX_LAYERS) }).loose(),
  })
  .loose();
export type ImageConfigDoc = z.infer<typeof configSchema>;

export const dockerManifestSchema = z
  .array(
    z
      .object({
        Config: z.string(),
        RepoTags: z.array(z.string()).nullable().optional(),
        Layers: z.array(z.string()).max(MAX_LAYERS),
      })
      .loose(),
  )
  .min(1);

/** What runs: the image config's process fields, as Tern needs them. */
export interface ImageRunConfig {
  entrypoint: string[];
  cmd: string[];
  env: string[];
  workingDir: string;
  user: string;
}

export function runConfigOf(config: ImageConfigDoc): ImageRunConfig {
  const c = config.config ?? {};
  return {
    entrypoint: c.Entrypoint ?? [],
    cmd: c.Cmd ?? [],
    env: c.Env ?? [],
    workingDir: c.WorkingDir || '/',
    user: c.User ?? '',
  };
}

export function parseJson<T>(schema: z.ZodType<T>, text: string, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw badImage(`${what}: not JSON (${(e as Error).message})`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw badImage(`${what}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
  }
  return parsed.data;
}

const NODE_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x' };

/** This node's platform in OCI's words ("amd64"). */
export function hostArchitecture(): string {
  return NODE_ARCH[process.arch] ?? process.arch;
}

/** Refuse an image built for another OS or CPU: it cannot run here. */
export function checkPlatform(config: ImageConfigDoc): void {
  const arch = hostArchitecture();
  if (config.os !== undefined && config.os !== 'linux') throw badImage(`the image is for ${config.os}, not linux`);
  if (config.architecture !== undefined && config.architecture !== arch)
    throw badImage(`the image is for linux/${config.architecture}; this node runs linux/${arch}`);
}
