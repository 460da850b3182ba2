/**
 * Turning another system's function package into a Tern function folder: unpack it in a scratch
 * folder, lay the generated files (function.toml, a small entry wrapper) over it, and deploy that
 * folder through the registry, which checks and copies it under its own limits. Shared by the
 * Serverledge, tinyFaaS and Faasm profiles; the scratch folder never outlives the call.
 */
import { chmod, mkdtemp, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { stringify as stringifyToml } from 'smol-toml';
import { TernError } from '../../core/errors.js';
import { extractArchive } from '../../registry/archive.js';
import { safeRelativePath } from '../../registry/entry-rules.js';
import { copyFolder } from '../../registry/folder-copy.js';
import type { DeployOutcome } from '../../registry/registry.js';
import type { CompatDeps } from '../compat.js';

const gzipAsync = promisify(gzip);

/** Defaults of config `[limits]`, for a node that passes none to the compat profiles. */
const DEFAULT_UNPACKED_BYTES = 256 * 1024 * 1024;
const DEFAULT_FILES = 10_000;

export interface PackageArchive {
  data: Buffer;
  /** "tar" is a plain (uncompressed) tar, as Serverledge sends. */
  type: 'zip' | 'tar' | 'tar.gz';
}

export interface StagedFunction {
  name: string;
  archive?: PackageArchive;
  /** Or: a function folder on disk to start from (a redeploy with a changed function.toml). */
  from?: string;
  /** The folder inside the archive that holds the code ("" or undefined: its root). */
  subfolder?: string;
  /** function.toml as a table (kebab-case keys, as in the file). */
  toml: Record<string, unknown>;
  /** Generated files laid over the code (paths relative to the function folder). */
  files?: Record<string, string | Buffer>;
  /** Files (from the package or generated) that must be executable when present. */
  executables?: string[];
  /** Last look at the staged folder before it is deployed; throws TernError to refuse. */
  check?: (dir: string) => Promise<void>;
}

export type StagingDeps = Pick<CompatDeps, 'registry' | 'limits' | 'settled' | 'scratchDir'>;

export async function fileExists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() === true;
}

async function folderExists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() === true;
}

/**
 * The code folder inside the unpacked archive. The registry's unpacking lifts a lone top-level
 * folder to the root, so a subfolder named through that wrapper ("repo-main/fns/echo") is also
 * looked for without its first segment.
 */
async function codeFolder(root: string, subfolder: string | undefined): Promise<string> {
  if (subfolder === undefined || subfolder.replace(/^\/+|\/+$/g, '') === '') return root;
  let rel: string | undefined;
  try {
    rel = safeRelativePath(subfolder.replace(/^\/+/, ''));
  } catch {
    throw new TernError(
      'bad_request',
      `subfolder ${JSON.stringify(subfolder)}: must be a relative path inside the archive`,
    );
  }
  if (rel === undefined) return root;
  if (await folderExists(join(root, rel))) return join(root, rel);
  const slash = rel.indexOf('/');
  if (slash !== -1 && (await folderExists(join(root, rel.slice(slash + 1))))) return join(root, rel.slice(slash + 1));
  throw new TernError('bad_archive', `the archive has no folder ${JSON.stringify(subfolder)}`);
}

/** Unpack, lay the generated files over the code, deploy. Nothing stays behind on failure. */
export async function deployStaged(deps: StagingDeps, fn: StagedFunction): Promise<DeployOutcome> {
  const scratch = await mkdtemp(join(deps.scratchDir ?? tmpdir(), 'tern-compat-'));
  try {
    const unpacked = join(scratch, 'fn');
    const limits = {
      archiveBytes: deps.limits.archiveBytes,
      unpackedBytes: deps.limits.unpackedBytes ?? DEFAULT_UNPACKED_BYTES,
      files: deps.limits.files ?? DEFAULT_FILES,
    };
    if (fn.from !== undefined) {
      await copyFolder(fn.from, unpacked, limits);
    } else if (fn.archive) {
      if (fn.archive.data.length > limits.archiveBytes) {
        throw new TernError(
          'too_large',
          `the package is ${fn.archive.data.length} bytes, over the limit of ${limits.archiveBytes} bytes`,
        );
      }
      // A plain tar is gzipped so the registry's bounded tar.gz reader unpacks it.
      const data = fn.archive.type === 'tar' ? await gzipAsync(fn.archive.data) : fn.archive.data;
      await extractArchive(data, fn.archive.type === 'zip' ? 'zip' : 'tar.gz', unpacked, limits);
    } else {
      await mkdir(unpacked);
    }
    const dir = await codeFolder(unpacked, fn.subfolder);
    const files: Record<string, string | Buffer> = { ...fn.files, 'function.toml': stringifyToml(fn.toml) };
    for (const [rel, content] of Object.entries(files)) {
      await mkdir(dirname(join(dir, rel)), { recursive: true });
      await rm(join(dir, rel), { recursive: true, force: true });
      await writeFile(join(dir, rel), content, { mode: 0o644 });
    }
    for (const rel of fn.executables ?? []) {
      if (await fileExists(join(dir, rel))) await chmod(join(dir, rel), 0o755);
    }
    await fn.check?.(dir);
    const outcome = await deps.registry.deployFolder(fn.name, dir);
    // Answer once the pool serves the new version, as the native API does.
    await deps.settled?.(fn.name);
    return outcome;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Remove a function and wait until its instances are gone; false when there was none. */
export async function removeFunction(deps: StagingDeps, name: string): Promise<boolean> {
  const removed = await deps.registry.remove(name);
  if (removed) await deps.settled?.(name);
  return removed !== undefined;
}
