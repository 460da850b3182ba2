/**
 * Dependencies at deploy: python `requirements.txt` with pip, node `package.json` with npm, both
 * offline (only what the folder ships), both inside a sandbox with a deadline. The install
 * target is the one writable folder; everything else of the function stays read-only.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { isTernError, TernError } from '../../core/errors.js';
import type { ArchiveLimits } from '../../registry/entry-rules.js';
import { copyFolder } from '../../registry/folder-copy.js';
import type { DeployedFunction } from '../../registry/registry.js';
import { sandboxEnv } from './env.js';
import type { SandboxKit } from './kit.js';
import { runOnce, type OneShotLimits } from './oneshot.js';
import { FN_MOUNT, type SandboxPlan } from './sandbox.js';
import { chownTree, makeReadable } from './tree.js';

export const INSTALL_LIMITS: OneShotLimits = { memoryMiB: 1024, pidsMax: 256, timeoutMs: 120_000 };
const INSTALL_TMP_BYTES = 512 * 1024 * 1024;
/** Written into the install folder once an install succeeded: later prepares skip it. */
const MARKER = '.tern-installed';
export const PYTHON = '/usr/bin/python3';

function lastLines(text: string, n = 6): string {
  return text.trim().split('\n').slice(-n).join(' | ');
}

/** What an install may leave behind (the copy back to the function folder stops beyond). */
const INSTALLED_LIMITS: ArchiveLimits = { archiveBytes: Infinity, unpackedBytes: 2 * 1024 ** 3, files: 200_000 };

/**
 * Copy an install's result into the function folder. Symbolic links (npm links each `file:`
 * dependency) are stored as what they point to, when that is inside the function folder: the
 * registry keeps regular files only. A link leaving the folder refuses the deploy.
 */
async function copyInstalled(installed: string, target: string, fnCopy: string, what: string): Promise<void> {
  try {
    await copyFolder(installed, target, INSTALLED_LIMITS, fnCopy);
  } catch (e) {
    if (isTernError(e)) throw new TernError('bad_spec', `${what}: in ${basename(target)}: ${e.message}`);
    throw e;
  }
}

/**
 * Run an install in a sandbox on a stage copy of the function folder (so no host path shows in
 * it), writing only into the copy's `target`, as the function's own uid. On success the result is
 * copied to the real folder, owned by root and readable by all.
 */
async function installInto(
  kit: SandboxKit,
  fn: DeployedFunction,
  target: string,
  command: string[],
  what: string,
): Promise<void> {
  const identity = kit.uids.identityOf(fn.spec.name);
  const work = await kit.stage.workspace();
  try {
    const copy = await kit.stage.copyIn(fn.dir, join(work, 'fn'));
    const rel = relative(fn.dir, target);
    const stagedTarget = join(copy, rel);
    await rm(stagedTarget, { recursive: true, force: true });
    await mkdir(stagedTarget, { mode: 0o755 });
    await chownTree(stagedTarget, identity.uid, identity.gid);
    const plan: SandboxPlan = {
      fnDir: copy,
      shimsDir: kit.shimsDir,
      etcDir: kit.etc.offline.dir,
      network: false,
      tmpBytes: INSTALL_TMP_BYTES,
      hostname: fn.spec.name,
      env: sandboxEnv(fn.spec, 'install', { npm_config_cache: '/tmp/.npm', npm_config_update_notifier: 'false' }),
      command,
      readOnly: [...kit.etc.offline.binds, ...kit.node.binds],
      writable: [{ host: stagedTarget, sandbox: join(FN_MOUNT, rel) }],
    };
    const r = await runOnce(kit, plan, INSTALL_LIMITS, identity);
    if (r.timedOut)
      throw new TernError('bad_spec', `${what}: did not finish within ${INSTALL_LIMITS.timeoutMs / 1000}s`);
    if (r.oomKills > 0) throw new TernError('bad_spec', `${what}: ran out of memory (${INSTALL_LIMITS.memoryMiB} MiB)`);
    if (r.code !== 0)
      throw new TernError('bad_spec', `${what} failed (exit ${r.code ?? r.signal}): ${lastLines(r.output)}`);
    await rm(target, { recursive: true, force: true });
    await copyInstalled(stagedTarget, target, copy, what);
    await chownTree(target, 0, 0);
    await makeReadable(target);
    await writeFile(join(target, MARKER), `${new Date().toISOString()}\n`, { mode: 0o644 });
  } catch (e) {
    await rm(target, { recursive: true, force: true });
    throw e;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** pip install --target .deps from wheels/ and local paths shipped in the folder. */
export async function installPythonDeps(getKit: () => Promise<SandboxKit>, fn: DeployedFunction): Promise<void> {
  if (!existsSync(join(fn.dir, 'requirements.txt'))) return;
  const target = join(fn.dir, '.deps');
  if (existsSync(join(target, MARKER))) return;
  const kit = await getKit();
  const wheels = existsSync(join(fn.dir, 'wheels')) ? ['--find-links', '/tmp/src/wheels'] : [];
  // pip builds local source folders in place: it works on a copy in the sandbox's /tmp.
  const pip = [
    PYTHON,
    '-m',
    'pip',
    'install',
    '--no-index',
    '--no-build-isolation',
    '--disable-pip-version-check',
    '--no-input',
    '--no-cache-dir',
    '--no-warn-script-location',
    '--progress-bar',
    'off',
    '--target',
    `${FN_MOUNT}/.deps`,
    ...wheels,
    '-r',
    'requirements.txt',
  ];
  const script = `cp -R ${FN_MOUNT}/. /tmp/src && cd /tmp/src && exec "$@"`;
  await installInto(kit, fn, target, ['/bin/sh', '-c', script, 'install', ...pip], 'requirements.txt: pip install');
}

interface PackageJson {
  dependencies?: Record<string, unknown>;
}

/** npm install --offline of package.json's dependencies (local file: packages), no scripts. */
export async function installNodeDeps(getKit: () => Promise<SandboxKit>, fn: DeployedFunction): Promise<void> {
  const manifest = join(fn.dir, 'package.json');
  if (!existsSync(manifest)) return;
  let pkg: PackageJson;
  try {
    pkg = JSON.parse(await readFile(manifest, 'utf8')) as PackageJson;
  } catch (e) {
    throw new TernError('bad_spec', `package.json: ${(e as Error).message}`);
  }
  if (pkg === null || typeof pkg !== 'object') throw new TernError('bad_spec', 'package.json: not a JSON object');
  if (!pkg.dependencies || typeof pkg.dependencies !== 'object' || Object.keys(pkg.dependencies).length === 0) return;
  const target = join(fn.dir, 'node_modules');
  // A folder that ships node_modules has its dependencies already.
  if (existsSync(target)) return;
  const kit = await getKit();
  const npmCli = join(dirname(dirname(kit.node.path)), 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
  if (!existsSync(npmCli))
    throw new TernError('bad_spec', `package.json: has dependencies but npm is not installed on this node (${npmCli})`);
  const npm = [
    kit.node.path,
    npmCli,
    'install',
    '--offline',
    '--no-audit',
    '--no-fund',
    '--ignore-scripts',
    '--omit=dev',
    '--no-package-lock',
    '--loglevel=error',
  ];
  await installInto(kit, fn, target, npm, 'package.json: npm install');
}
