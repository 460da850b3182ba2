/** Copies a function folder on disk into a fresh folder under the same limits an archive obeys. */
import { createReadStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TernError } from '../core/errors.js';
import { Budget, DIR_MODE, fileMode, writeCounted, type ArchiveLimits } from './entry-rules.js';
import { walkFolder } from './folder-walk.js';

/**
 * Copy `src` into `dest` (which must not exist yet). Symbolic links inside `within` (default
 * `src`) are copied as the files they point to; links leaving it are refused. On failure `dest`
 * is removed again.
 */
export async function copyFolder(src: string, dest: string, limits: ArchiveLimits, within = src): Promise<void> {
  const info = await stat(src).catch(() => undefined);
  if (!info?.isDirectory()) throw new TernError('bad_request', `${src}: not a folder`);
  const entries = await walkFolder(src, limits.files, within);
  const budget = new Budget(limits);
  await mkdir(dirname(dest), { recursive: true });
  await mkdir(dest, { mode: DIR_MODE });
  try {
    for (const entry of entries) {
      const target = join(dest, entry.rel);
      if (entry.kind === 'dir') await mkdir(target, { mode: DIR_MODE });
      else await writeCounted(target, createReadStream(entry.path), fileMode(entry.mode), budget, entry.rel);
    }
  } catch (e) {
    await rm(dest, { recursive: true, force: true });
    throw e;
  }
}
