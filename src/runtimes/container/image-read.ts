/**
 * Reads an image from a folder: an OCI image layout (oci-layout, index.json, blobs/sha256/…) or
 * an unpacked docker-archive (manifest.json, a config file, layer tars). Every JSON blob is checked
 * against its digest and size here; layer blobs are checked as they are read (layer-stream.ts).
 */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { badImage, chainId, digestHex, sha256Digest } from './digest.js';
import {
  checkPlatform,
  configSchema,
  dockerManifestSchema,
  hostArchitecture,
  indexSchema,
  layoutMarkerSchema,
  manifestSchema,
  MAX_JSON_BYTES,
  parseJson,
  runConfigOf,
  type Descriptor,
  type ImageConfigDoc,
  type ImageRunConfig,
} from './image-docs.js';
import type { LayerSource } from './layer-stream.js';

export interface ImageContent {
  configDigest: string;
  /** OCI ChainID of the layers: the name of the unpacked root folder in the store. */
  chain: string;
  layers: LayerSource[];
  run: ImageRunConfig;
  /** The name the image carries (index annotation, docker RepoTags), for `tern image import`. */
  refName?: string;
}

const INDEX_TYPES = new Set([
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
]);
const REF_ANNOTATIONS = ['io.containerd.image.name', 'org.opencontainers.image.ref.name'];

async function regularFile(path: string, what: string): Promise<number> {
  const info = await lstat(path).catch(() => undefined);
  if (!info?.isFile()) throw badImage(`${what}: missing from the image`);
  return info.size;
}

/** A small file read whole, bounded. */
async function readSmall(path: string, what: string): Promise<Buffer> {
  const size = await regularFile(path, what);
  if (size > MAX_JSON_BYTES) throw badImage(`${what}: larger than ${MAX_JSON_BYTES} bytes`);
  return readFile(path);
}

function blobPath(dir: string, digest: string, what: string): string {
  return join(dir, 'blobs', 'sha256', digestHex(digest, what));
}

/** A JSON blob of the layout, checked against its descriptor. */
async function readBlobJson(dir: string, d: Descriptor, what: string): Promise<string> {
  const bytes = await readSmall(blobPath(dir, d.digest, what), `${what} (${d.digest})`);
  if (bytes.length !== d.size)
    throw badImage(`${what}: the blob has ${bytes.length} bytes, its descriptor says ${d.size}`);
  if (sha256Digest(bytes) !== d.digest)
    throw badImage(`${what}: the blob's sha256 does not match its digest ${d.digest}`);
  return bytes.toString('utf8');
}

/** The manifest for this node's platform among an index's. */
function pickManifest(manifests: Descriptor[], what: string): Descriptor {
  if (manifests.length === 1) return manifests[0]!;
  const arch = hostArchitecture();
  const match = manifests.find((m) => m.platform?.os === 'linux' && m.platform.architecture === arch);
  if (!match) throw badImage(`${what}: no manifest for linux/${arch} among ${manifests.length}`);
  return match;
}

function refNameOf(d: Descriptor | undefined): string | undefined {
  for (const key of REF_ANNOTATIONS) {
    const v = d?.annotations?.[key];
    if (v) return v;
  }
  return undefined;
}

function contentOf(
  config: ImageConfigDoc,
  configDigest: string,
  layers: LayerSource[],
  refName: string | undefined,
): ImageContent {
  checkPlatform(config);
  const content: ImageContent = {
    configDigest,
    chain: chainId(layers.map((l) => l.diffId)),
    layers,
    run: runConfigOf(config),
  };
  if (refName) content.refName = refName;
  return content;
}

function checkDiffIds(config: ImageConfigDoc, layerCount: number): string[] {
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== layerCount)
    throw badImage(`the config lists ${diffIds.length} layer diff ids for ${layerCount} layers`);
  if (layerCount === 0) throw badImage('the image has no layers');
  diffIds.forEach((d, i) => digestHex(d, `config rootfs.diff_ids[${i}]`));
  return diffIds;
}

export async function readLayout(dir: string): Promise<ImageContent> {
  const marker = parseJson(
    layoutMarkerSchema,
    (await readSmall(join(dir, 'oci-layout'), 'oci-layout')).toString('utf8'),
    'oci-layout',
  );
  if (!marker.imageLayoutVersion.startsWith('1.')) throw badImage('oci-layout: imageLayoutVersion is not 1.x');
  const index = parseJson(
    indexSchema,
    (await readSmall(join(dir, 'index.json'), 'index.json')).toString('utf8'),
    'index.json',
  );
  let chosen = pickManifest(index.manifests, 'index.json');
  const refName = refNameOf(chosen);
  let text = await readBlobJson(dir, chosen, 'manifest');
  // One nested index (a multi-platform image saved whole) is followed.
  if (INDEX_TYPES.has(chosen.mediaType ?? '') || /"manifests"\s*:/.test(text)) {
    chosen = pickManifest(parseJson(indexSchema, text, 'nested index').manifests, 'nested index');
    text = await readBlobJson(dir, chosen, 'manifest');
  }
  const manifest = parseJson(manifestSchema, text, 'manifest');
  const config = parseJson(configSchema, await readBlobJson(dir, manifest.config, 'config'), 'config');
  const diffIds = checkDiffIds(config, manifest.layers.length);
  const layers: LayerSource[] = [];
  for (const [i, d] of manifest.layers.entries()) {
    const what = `layer ${i + 1} (${d.digest})`;
    const path = blobPath(dir, d.digest, what);
    await regularFile(path, what);
    layers.push({ path, diffId: diffIds[i]!, digest: d.digest, size: d.size, what });
  }
  return contentOf(config, manifest.config.digest, layers, refName);
}

/** A path named in manifest.json: relative, inside the archive. */
function archivePath(dir: string, rel: string, what: string): string {
  if (rel.startsWith('/') || rel.split('/').includes('..'))
    throw badImage(`${what}: path ${JSON.stringify(rel)} leaves the archive`);
  return join(dir, rel);
}

/** "abc….json" or "blobs/sha256/abc…": the digest a docker-archive file is named after. */
function digestInName(rel: string): string | undefined {
  const m = /(?:^|\/)([0-9a-f]{64})(?:\.json)?$/.exec(rel);
  return m ? `sha256:${m[1]}` : undefined;
}

export async function readDockerArchive(dir: string): Promise<ImageContent> {
  const entries = parseJson(
    dockerManifestSchema,
    (await readSmall(join(dir, 'manifest.json'), 'manifest.json')).toString('utf8'),
    'manifest.json',
  );
  const entry = entries[0]!;
  const bytes = await readSmall(archivePath(dir, entry.Config, 'manifest.json Config'), 'config');
  const configDigest = sha256Digest(bytes);
  const named = digestInName(entry.Config);
  if (named !== undefined && named !== configDigest)
    throw badImage(`config ${entry.Config}: its sha256 does not match the digest it is named after`);
  const config = parseJson(configSchema, bytes.toString('utf8'), 'config');
  const diffIds = checkDiffIds(config, entry.Layers.length);
  const layers: LayerSource[] = [];
  for (const [i, rel] of entry.Layers.entries()) {
    const what = `layer ${i + 1} (${rel})`;
    const path = archivePath(dir, rel, what);
    await regularFile(path, what);
    const digest = digestInName(rel);
    // Newer docker-archives name layers after their blob digest; older ones hold the plain tar (= the diff id).
    layers.push({ path, diffId: diffIds[i]!, ...(digest && rel.startsWith('blobs/') ? { digest } : {}), what });
  }
  return contentOf(config, configDigest, layers, entry.RepoTags?.[0] ?? undefined);
}

/** An OCI layout or an unpacked docker-archive, by the files it has. */
export async function readImageFolder(dir: string): Promise<ImageContent> {
  if (await lstat(join(dir, 'oci-layout')).catch(() => undefined)) return readLayout(dir);
  if (await lstat(join(dir, 'manifest.json')).catch(() => undefined)) return readDockerArchive(dir);
  throw badImage('neither an OCI image layout (oci-layout, index.json, blobs/) nor a docker-archive (manifest.json)');
}
