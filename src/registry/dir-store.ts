/**
 * The embedded registry: functions in a folder on disk.
 *
 *   <root>/<name>/versions/<version>/   immutable code folders (version = content hash)
 *   <root>/<name>/current               {"version", "deployedAt"}, replaced atomically
 *   <root>/.tmp/                        work folders; wiped at open
 *
 * A deploy unpacks into .tmp, checks function.toml, runs the validator, then moves the folder
 * into versions/ and flips `current`. Until that flip nothing the node reads has changed, and a
 * failure removes everything the deploy wrote.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { TernError } from '../core/errors.js';
import { extractArchive } from './archive.js';
import { writeFileAtomic } from './atomic-file.js';
import type { ArchiveLimits } from './entry-rules.js';
import { copyFolder } from './folder-copy.js';
import type {
  ArchiveType,
  DeployedFunction,
  DeployOutcome,
  DeployValidator,
  Registry,
  RegistryEvent,
} from './registry.js';
import { NAME_PATTERN, parseFunctionToml, type FunctionSpec } from './spec.js';
import { hashAndSyncFolder, syncPath } from './version-hash.js';
import { KeyedSerial } from '../core/keyed-serial.js';

export { loadRegistryFolder } from './registry-folder.js';

export interface DirRegistryOptions {
  /** The functions folder, normally <data>/functions. */
  root: string;
  limits: ArchiveLimits;
  validate?: DeployValidator;
  logger?: Logger;
}

interface CurrentPointer {
  version: string;
  deployedAt: string;
}

const VERSION_PATTERN = /^[0-9a-f]{16}$/;
const TMP = '.tmp';

function parsePointer(text: string): CurrentPointer {
  const raw: unknown = JSON.parse(text);
  if (typeof raw !== 'object' || raw === null) throw new Error('current: not a JSON object');
  const { version, deployedAt } = raw as Record<string, unknown>;
  if (typeof version !== 'string' || !VERSION_PATTERN.test(version)) throw new Error('current: bad version');
  if (typeof deployedAt !== 'string') throw new Error('current: bad deployedAt');
  return { version, deployedAt };
}

function checkName(name: string): void {
  if (!NAME_PATTERN.test(name))
    throw new TernError(
      'bad_request',
      `invalid function name ${JSON.stringify(name)}: use 1-63 characters of a-z, 0-9 and "-"`,
    );
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

export class DirRegistry implements Registry {
  private readonly root: string;
  private readonly tmpRoot: string;
  private readonly limits: ArchiveLimits;
  private readonly validate: DeployValidator | undefined;
  private readonly logger: Logger;
  private readonly functions = new Map<string, DeployedFunction>();
  /** Folders of removed functions, deleted by `prune` once their instances are gone. */
  private readonly trash = new Map<string, string[]>();
  /** One change per function at a time. */
  private readonly serial = new KeyedSerial();
  private readonly listeners = new Set<(event: RegistryEvent) => void>();

  constructor(opts: DirRegistryOptions) {
    this.root = opts.root;
    this.tmpRoot = join(opts.root, TMP);
    this.limits = opts.limits;
    this.validate = opts.validate;
    this.logger = opts.logger ?? pino({ enabled: false });
  }

  async open(): Promise<void> {
    this.serial.open();
    await mkdir(this.root, { recursive: true });
    await rm(this.tmpRoot, { recursive: true, force: true });
    await mkdir(this.tmpRoot);
    this.functions.clear();
    const entries = (await readdir(this.root, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      if (entry.name === TMP) continue;
      if (!entry.isDirectory() || !NAME_PATTERN.test(entry.name)) {
        this.logger.warn(
          { event: 'registry_skip', entry: entry.name },
          `registry: ignoring ${join(this.root, entry.name)} (not a function folder)`,
        );
        continue;
      }
      try {
        const fn = await this.load(entry.name);
        this.functions.set(fn.spec.name, fn);
        await this.pruneOthers(fn);
      } catch (e) {
        this.logger.error(
          { event: 'registry_broken', function: entry.name, err: (e as Error).message },
          `registry: cannot load function ${entry.name}, skipped: ${(e as Error).message}`,
        );
      }
    }
  }

  list(): DeployedFunction[] {
    return [...this.functions.values()].sort((a, b) => (a.spec.name < b.spec.name ? -1 : 1));
  }

  get(name: string): DeployedFunction | undefined {
    return this.functions.get(name);
  }

  async deploy(name: string, archive: Buffer, type: ArchiveType): Promise<DeployOutcome> {
    checkName(name);
    return this.serial.run(name, () =>
      this.fromWorkFolder(name, (work) => extractArchive(archive, type, work, this.limits), 'archive'),
    );
  }

  async deployFolder(name: string, folder: string): Promise<DeployOutcome> {
    checkName(name);
    return this.serial.run(name, () =>
      this.fromWorkFolder(name, (work) => copyFolder(folder, work, this.limits), `folder ${folder}`),
    );
  }

  async remove(name: string): Promise<DeployedFunction | undefined> {
    return this.serial.run(name, async () => {
      const previous = this.functions.get(name);
      if (!previous) return undefined;
      // One rename takes the whole function away at once. The files stay until `prune(name)`:
      // instances still draining may run from them (sandboxes bind-mount the code folder).
      const trash = join(this.tmpRoot, `removed-${name}-${randomBytes(6).toString('hex')}`);
      await mkdir(this.tmpRoot, { recursive: true });
      await rename(join(this.root, name), trash);
      this.functions.delete(name);
      this.trash.set(name, [...(this.trash.get(name) ?? []), trash]);
      this.emit({ type: 'removed', name, previous });
      return previous;
    });
  }

  /** Delete code no instance needs any more: old versions, and the folders of a removed function. */
  async prune(name: string): Promise<void> {
    await this.serial.run(name, async () => {
      const fn = this.functions.get(name);
      if (fn) await this.pruneOthers(fn);
      const removed = this.trash.get(name) ?? [];
      this.trash.delete(name);
      await Promise.all(removed.map((dir) => rm(dir, { recursive: true, force: true })));
    });
  }

  subscribe(listener: (event: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    await this.serial.close();
    this.listeners.clear();
  }

  private async load(name: string): Promise<DeployedFunction> {
    const fnDir = join(this.root, name);
    const pointer = parsePointer(await readFile(join(fnDir, 'current'), 'utf8'));
    const dir = join(fnDir, 'versions', pointer.version);
    // The folder's name is the name it was deployed as, whatever its function.toml says.
    const spec = { ...parseFunctionToml(await readFile(join(dir, 'function.toml'), 'utf8'), name), name };
    return { spec, dir, version: pointer.version, deployedAt: pointer.deployedAt };
  }

  /** Delete every version but the current one, and any leftover temp file of an interrupted flip. */
  private async pruneOthers(fn: DeployedFunction): Promise<void> {
    const fnDir = join(this.root, fn.spec.name);
    const versionsDir = join(fnDir, 'versions');
    for (const v of await readdir(versionsDir)) {
      if (v !== fn.version) await rm(join(versionsDir, v), { recursive: true, force: true });
    }
    for (const f of await readdir(fnDir)) {
      if (f !== 'versions' && f !== 'current') await rm(join(fnDir, f), { recursive: true, force: true });
    }
  }

  /** Fill a fresh work folder, then check and commit it; the work folder never outlives the call. */
  private async fromWorkFolder(
    name: string,
    fill: (work: string) => Promise<void>,
    source: string,
  ): Promise<DeployOutcome> {
    const work = join(this.tmpRoot, `deploy-${name}-${randomBytes(6).toString('hex')}`);
    try {
      await fill(work);
      const spec = await this.readSpec(name, work, source);
      if (this.validate) await this.validate(spec, work);
      return await this.commit(name, spec, work);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  private async readSpec(name: string, dir: string, source: string): Promise<FunctionSpec> {
    let text: string;
    try {
      text = await readFile(join(dir, 'function.toml'), 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR')
        throw new TernError('bad_archive', `the ${source} has no function.toml at its root`);
      throw e;
    }
    // The name it is deployed as (the URL's, `tern deploy --name`) wins over function.toml's.
    return { ...parseFunctionToml(text, name), name };
  }

  private async commit(name: string, spec: FunctionSpec, work: string): Promise<DeployOutcome> {
    const version = await hashAndSyncFolder(work);
    const previous = this.functions.get(name);
    if (previous?.version === version) {
      this.emit({ type: 'deployed', fn: previous, previous });
      return { fn: previous, created: false, previous };
    }
    const fnDir = join(this.root, name);
    const versionsDir = join(fnDir, 'versions');
    const dir = join(versionsDir, version);
    const newFunctionDir = !(await exists(fnDir));
    let newVersionDir = false;
    try {
      await mkdir(versionsDir, { recursive: true });
      // An older, not yet pruned copy of the same content is the same version: reuse it.
      if (!(await exists(dir))) {
        await rename(work, dir);
        newVersionDir = true;
        await syncPath(versionsDir);
      }
      const deployedAt = new Date().toISOString();
      await writeFileAtomic(
        join(fnDir, 'current'),
        `${JSON.stringify({ version, deployedAt } satisfies CurrentPointer)}\n`,
      );
      const fn: DeployedFunction = { spec, dir, version, deployedAt };
      this.functions.set(name, fn);
      this.emit(previous ? { type: 'deployed', fn, previous } : { type: 'deployed', fn });
      return previous ? { fn, created: false, previous } : { fn, created: true };
    } catch (e) {
      if (newFunctionDir) await rm(fnDir, { recursive: true, force: true });
      else if (newVersionDir) await rm(dir, { recursive: true, force: true });
      throw e;
    }
  }

  private emit(event: RegistryEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (e) {
        this.logger.error(
          { event: 'registry_listener_failed', err: (e as Error).message },
          'a registry listener threw',
        );
      }
    }
  }
}
