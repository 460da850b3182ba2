/**
 * OpenFaaS deploys by container image; Tern by function folder. An `image` names code already on
 * the node, looked up in this order (the first that exists wins):
 *   1. an absolute path: a function folder or a `.wasm` file;
 *   2. `<images>/<image>` (default `<data>/images`), with and without a `:tag` / `@digest`;
 *   3. `<images>/<last path segment>`, so "ghcr.io/me/figlet:0.1" finds `<images>/figlet`;
 *   4. `<cwd>/<image>`, the node's working folder ("examples/hello").
 * Relative images may not contain "..". Before all of these, a container image imported on the node
 * (`tern image import`, `PUT /v1/images/{name}`) under that name runs as a `container` function.
 */
import { stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { importedImageName } from '../../runtimes/container/image-store.js';
import { httpError } from './http-errors.js';

export type ImageSource =
  { kind: 'folder'; path: string } | { kind: 'wasm'; path: string } | { kind: 'container'; ref: string };

export interface ImageRoots {
  /** Folder of named images; absent when the node has no data folder. */
  imagesDir?: string;
  /** The node's working folder. */
  cwd: string;
  /** The container image store (`<data>/containers`), whose imported names come first. */
  containerStore?: string;
}

/** "ghcr.io/me/fn:1.0@sha256:…" -> "ghcr.io/me/fn" (a colon only counts as a tag after the last "/"). */
export function stripTag(image: string): string {
  const at = image.indexOf('@');
  const noDigest = at === -1 ? image : image.slice(0, at);
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

function candidates(image: string, roots: ImageRoots): string[] {
  if (isAbsolute(image)) return [image];
  const names = [...new Set([image, stripTag(image)])].filter((n) => n !== '' && !n.split('/').includes('..'));
  const out: string[] = [];
  if (roots.imagesDir) {
    for (const n of names) out.push(join(roots.imagesDir, n));
    const last = stripTag(image).split('/').pop();
    if (last && last !== '..') out.push(join(roots.imagesDir, last));
  }
  for (const n of names) out.push(join(roots.cwd, n));
  return [...new Set(out)];
}

export async function resolveImage(image: string, roots: ImageRoots): Promise<ImageSource> {
  const trimmed = image.trim();
  if (trimmed === '') throw httpError(400, 'image: missing (name a function folder or .wasm module on the node)');
  const imported = roots.containerStore ? await importedImageName(roots.containerStore, trimmed) : undefined;
  if (imported !== undefined) return { kind: 'container', ref: imported };
  const looked = candidates(trimmed, roots);
  for (const path of looked) {
    const info = await stat(path).catch(() => undefined);
    if (info?.isDirectory()) return { kind: 'folder', path };
    if (info?.isFile() && path.endsWith('.wasm')) return { kind: 'wasm', path };
  }
  throw httpError(
    400,
    `unable to pull image ${trimmed}: no function folder or .wasm module of that name on this node (looked at ${looked.join(', ') || 'nothing: relative images may not contain ".."'})`,
  );
}
