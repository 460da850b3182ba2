/**
 * What differs between python, node and binary: the command that starts the shim, the handler's
 * shape, and the dependency install. Everything else (sandbox, cgroup, protocol) is shared.
 */
import { existsSync } from 'node:fs';
import { chmod, realpath, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { TernError } from '../../core/errors.js';
import type { DeployedFunction } from '../../registry/registry.js';
import type { FunctionSpec } from '../../registry/spec.js';
import { installNodeDeps, installPythonDeps, PYTHON } from './deps.js';
import type { SandboxKit } from './kit.js';

export type LanguageName = 'python' | 'node' | 'binary';

/** Where the function folder and the shims are, as the started process sees them. */
export interface ProcessPaths {
  fn: string;
  shims: string;
  node: string;
}

export interface Language {
  readonly name: LanguageName;
  /** Binary functions speak CGI through the helper; the others return responses. */
  readonly cgi: boolean;
  /** argv of the instance's process. */
  command(spec: FunctionSpec, instanceId: string, paths: ProcessPaths): string[];
  /** The interpreter that must exist (host path). */
  interpreter(kit: SandboxKit): string;
  /** argv of the deploy-time load check (load-check.ts); absent: nothing to load ahead. */
  checkCommand?(spec: FunctionSpec, paths: ProcessPaths): string[];
  /** Validate the handler and install dependencies (deploy time). */
  prepare(fn: DeployedFunction, kit: () => Promise<SandboxKit>): Promise<void>;
}

/** A path inside the function folder, refusing escapes (.., absolute paths, symlinks out). */
async function insideFolder(fn: DeployedFunction, file: string, what: string): Promise<string> {
  const path = join(fn.dir, file);
  const rel = relative(fn.dir, path);
  if (file.startsWith('/') || rel === '' || rel === '..' || rel.startsWith(`..${sep}`)) {
    throw new TernError(
      'bad_spec',
      `function.toml: handler: ${what} "${file}" must be a file inside the function folder`,
    );
  }
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile())
    throw new TernError('bad_spec', `function.toml: handler: ${what} "${file}" does not exist in the function folder`);
  const real = await realpath(path);
  const realDir = await realpath(fn.dir);
  if (!real.startsWith(realDir + sep))
    throw new TernError('bad_spec', `function.toml: handler: "${file}" points outside the function folder`);
  return path;
}

const PY_NAME = '[A-Za-z_][A-Za-z0-9_]*';
const PY_HANDLER = new RegExp(`^(${PY_NAME}(?:\\.${PY_NAME})*)(?::(${PY_NAME}))?$`);

export const python: Language = {
  name: 'python',
  cgi: false,
  command: (spec, id, p) => [PYTHON, '-I', '-B', `${p.shims}/python/tern_shim.py`, p.fn, spec.handler, spec.name, id],
  checkCommand: (spec, p) => [PYTHON, '-I', '-B', `${p.shims}/python/tern_check.py`, p.fn, spec.handler],
  interpreter: () => PYTHON,
  async prepare(fn, kit) {
    const m = PY_HANDLER.exec(fn.spec.handler);
    if (!m)
      throw new TernError(
        'bad_spec',
        `function.toml: handler: "${fn.spec.handler}" is not "module:function" (e.g. "main:handle")`,
      );
    await installPythonDeps(kit, fn);
    const parts = m[1]!.split('.');
    const candidates = [`${parts.join('/')}.py`, `${parts.join('/')}/__init__.py`];
    const found = [fn.dir, join(fn.dir, '.deps')].some((root) => candidates.some((c) => existsSync(join(root, c))));
    if (!found)
      throw new TernError(
        'bad_spec',
        `function.toml: handler: module "${m[1]}" not found (no ${candidates[0]} in the function folder)`,
      );
  },
};

const NODE_HANDLER = /^([^:]+?\.(?:js|mjs|cjs))(?::([A-Za-z_$][A-Za-z0-9_$]*))?$/;

const nodeFlags = (spec: FunctionSpec): string[] => [
  // V8 collects harder before the cgroup limit, and says "heap out of memory" instead of a silent kill.
  `--max-old-space-size=${Math.max(8, Math.floor(spec.memory * 0.75))}`,
  // V8's helper threads count against the sandbox's pids limit: a fixed few, whatever the machine.
  '--v8-pool-size=2',
];

export const node: Language = {
  name: 'node',
  cgi: false,
  checkCommand: (spec, p) => [p.node, ...nodeFlags(spec), `${p.shims}/node/check.cjs`, p.fn, spec.handler],
  command: (spec, id, p) => [
    p.node,
    ...nodeFlags(spec),
    `${p.shims}/node/shim.cjs`,
    p.fn,
    spec.handler,
    spec.name,
    id,
    String(spec.concurrentRequests),
  ],
  interpreter: (kit) => kit.node.path,
  async prepare(fn, kit) {
    const m = NODE_HANDLER.exec(fn.spec.handler);
    if (!m)
      throw new TernError(
        'bad_spec',
        `function.toml: handler: "${fn.spec.handler}" is not a .js, .mjs or .cjs file (optionally "file.js:export")`,
      );
    await insideFolder(fn, m[1]!, 'file');
    await installNodeDeps(kit, fn);
  },
};

export const binary: Language = {
  name: 'binary',
  cgi: true,
  command: (spec, id, p) => [
    PYTHON,
    '-I',
    '-B',
    `${p.shims}/binary/cgi_runner.py`,
    p.fn,
    spec.handler,
    spec.name,
    id,
    String(spec.concurrentRequests),
  ],
  interpreter: () => PYTHON,
  async prepare(fn) {
    const path = await insideFolder(fn, fn.spec.handler, 'executable');
    const info = await stat(path);
    // Archives (zip especially) often lose the executable bit: the handler is meant to run.
    if ((info.mode & 0o111) !== 0o111) await chmod(path, (info.mode | 0o555) & 0o7777);
  },
};
