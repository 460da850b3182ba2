/**
 * Image names as `docker` and `faas-cli` write them: "[host[:port]/]path[:tag]", the tag
 * "latest" when none is given. Digest references ("@sha256:…") name no imported image here.
 */
import { TernError } from '../../core/errors.js';

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const HOST = '[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]{1,5})?';
const NAME = new RegExp(`^(?:${HOST}/)?${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const MAX_NAME = 255;

/** "busybox" -> "busybox:latest"; undefined when `ref` is not an image name. */
export function normalizeRef(ref: string): string | undefined {
  const trimmed = ref.trim();
  if (trimmed.includes('@') || trimmed.length > MAX_NAME + 129) return undefined;
  const slash = trimmed.lastIndexOf('/');
  const colon = trimmed.lastIndexOf(':');
  const name = colon > slash ? trimmed.slice(0, colon) : trimmed;
  const tag = colon > slash ? trimmed.slice(colon + 1) : 'latest';
  if (name.length > MAX_NAME || !NAME.test(name) || !TAG.test(tag)) return undefined;
  return `${name}:${tag}`;
}

/** As normalizeRef, refusing a bad name with a 400 naming `what`. */
export function requireRef(ref: string, what: string): string {
  const normal = normalizeRef(ref);
  if (normal === undefined)
    throw new TernError(
      'bad_request',
      `${what}: ${JSON.stringify(ref.slice(0, 300))} is not an image name ("name:tag", e.g. "ghcr.io/me/fn:1.0")`,
    );
  return normal;
}
