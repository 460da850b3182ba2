/**
 * Applies one image layer (a tar stream) onto a root folder, as the OCI image spec says: entries
 * replace what lower layers left, `.wh.NAME` deletes NAME, `.wh..wh..opq` empties its folder of
 * what lower layers left. Paths never leave the root (scoped-path.ts); devices and FIFOs are
 * refused; sizes and entry counts count against one budget for the whole image.
 */
import { chmod, link, lstat, mkdir, readdir, rm, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReadEntry } from 'tar';
import { isTernError } from '../../core/errors.js';
import { type Budget, safeRelativePath, writeCounted } from '../../registry/entry-rules.js';
import { badImage } from './digest.js';
import { resolveDirInRoot, splitParent } from './scoped-path.js';
import { skipEntry, walkTar } from './tar-walk.js';

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const DEVICE_TYPES = new Set(['CharacterDevice', 'BlockDevice', 'FIFO']);
const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const MAX_LINK_TARGET = 4096;

/**
 * Modes in the store: no setuid, setgid or sticky bits, nothing writable but by the owner (host
 * root), and everyone may read and run what the owner may: the container's users are "others".
 */
export function rootfsMode(mode: number | undefined): number {
  const m = (mode ?? 0o644) & 0o755;
  const owner = (m >> 6) & 0o5;
  return (m & 0o700) | (owner << 3) | owner;
}

interface LayerContext {
  root: string;
  what: string;
  budget: Budget;
  /** Host paths this layer created: whiteouts only delete what lower layers left. */
  written: Set<string>;
}

async function removeExisting(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}

async function whiteout(ctx: LayerContext, parent: string[], name: string): Promise<void> {
  if (name !== OPAQUE && name.startsWith(`${WHITEOUT}${WHITEOUT}`)) return;
  const dir = await resolveDirInRoot(ctx.root, parent, false, ctx.what);
  if (dir === undefined) return;
  const victims = name === OPAQUE ? await readdir(dir) : [name.slice(WHITEOUT.length)];
  for (const victim of victims) {
    const path = join(dir, victim);
    if (!ctx.written.has(path)) await removeExisting(path);
  }
}

async function hardLinkSource(ctx: LayerContext, entry: ReadEntry): Promise<string> {
  const rel = safeRelativePath(entry.linkpath ?? '');
  if (rel === undefined) throw badImage(`${ctx.what}: hard link ${JSON.stringify(entry.path)} has no target`);
  const { parent, name } = splitParent(rel);
  const dir = await resolveDirInRoot(ctx.root, parent, false, ctx.what);
  const source = dir === undefined ? undefined : join(dir, name);
  const info = source === undefined ? undefined : await lstat(source).catch(() => undefined);
  if (source === undefined || !info || info.isDirectory())
    throw badImage(`${ctx.what}: hard link ${JSON.stringify(entry.path)} to a missing file or a folder`);
  return source;
}

async function applyEntry(ctx: LayerContext, entry: ReadEntry, abort: Promise<never>): Promise<void> {
  const rel = safeRelativePath(entry.path);
  if (rel === undefined) return skipEntry(entry);
  ctx.budget.entry(entry.path);
  const { parent, name } = splitParent(rel);
  if (name.startsWith(WHITEOUT)) {
    skipEntry(entry);
    return whiteout(ctx, parent, name);
  }
  if (DEVICE_TYPES.has(entry.type))
    throw badImage(`${ctx.what}: ${JSON.stringify(rel)}: device and FIFO entries are not allowed`);
  const dir = (await resolveDirInRoot(ctx.root, parent, true, ctx.what))!;
  const target = join(dir, name);
  const existing = await lstat(target).catch(() => undefined);
  ctx.written.add(target);
  if (entry.type === 'Directory') {
    skipEntry(entry);
    if (existing && !existing.isDirectory()) await removeExisting(target);
    if (!existing?.isDirectory()) await mkdir(target);
    await chmod(target, rootfsMode(entry.mode));
    return;
  }
  if (existing) await removeExisting(target);
  if (entry.type === 'SymbolicLink') {
    skipEntry(entry);
    const to = entry.linkpath ?? '';
    if (to === '' || to.length > MAX_LINK_TARGET || to.includes('\0'))
      throw badImage(`${ctx.what}: symbolic link ${JSON.stringify(rel)} has a bad target`);
    return symlink(to, target);
  }
  if (entry.type === 'Link') {
    skipEntry(entry);
    return link(await hardLinkSource(ctx, entry), target);
  }
  if (!FILE_TYPES.has(entry.type))
    throw badImage(`${ctx.what}: ${JSON.stringify(rel)}: unsupported tar entry type ${entry.type}`);
  await writeCounted(target, entry, 0o600, ctx.budget, entry.path, abort);
  await chmod(target, rootfsMode(entry.mode));
}

/** Apply `tar` (the layer, decompressed) onto `root`. Errors name the layer. */
export async function applyLayer(
  tar: AsyncIterable<Buffer>,
  root: string,
  o: { what: string; budget: Budget; maxTarBytes: number },
): Promise<void> {
  const ctx: LayerContext = { root, what: o.what, budget: o.budget, written: new Set() };
  const handle = async (entry: ReadEntry, abort: Promise<never>) => {
    try {
      await applyEntry(ctx, entry, abort);
    } catch (e) {
      // entry-rules' refusals name the entry but not the layer.
      if (isTernError(e) && !e.message.startsWith('image:')) throw badImage(`${o.what}: ${e.message}`);
      throw e;
    }
  };
  await walkTar(tar, handle, { maxTarBytes: o.maxTarBytes, what: o.what });
}
