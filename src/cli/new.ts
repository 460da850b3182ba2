/** `tern new RUNTIME DIR`: copy a working starter from templates/<runtime>/. */
import { readdirSync } from 'node:fs';
import { isExecutable } from '../core/executable.js';
import { cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, delimiter, isAbsolute, join, relative, resolve } from 'node:path';
import { NAME_PATTERN } from '../registry/spec.js';
import { PROJECT_ROOT } from '../version.js';

const TEMPLATES = join(PROJECT_ROOT, 'templates');

/** The runtimes with a starter (templates/<runtime>/), for `tern new --help` and its errors. */
export function availableTemplates(): string[] {
  try {
    return readdirSync(TEMPLATES, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
}

/** How to run this CLI from here: `tern` when it is on PATH (make install), else the path to bin/tern. */
export function ternCommand(cwd = process.cwd()): string {
  const onPath = (process.env.PATH ?? '').split(delimiter).some((dir) => dir && isExecutable(join(dir, 'tern')));
  if (onPath) return 'tern';
  const bin = join(PROJECT_ROOT, 'bin', 'tern');
  const rel = relative(cwd, bin);
  return rel.startsWith('..') || isAbsolute(rel) ? bin : rel;
}

async function substitute(dir: string, name: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await substitute(path, name);
    else if (entry.isFile()) {
      const text = await readFile(path, 'utf8');
      if (text.includes('{{name}}')) await writeFile(path, text.replaceAll('{{name}}', name));
    }
  }
}

export async function newFunction(runtime: string, dir: string): Promise<void> {
  const templates = availableTemplates();
  if (!templates.includes(runtime))
    throw new Error(`no starter for runtime "${runtime}" (have: ${templates.join(', ')})`);
  const target = resolve(dir);
  const name = basename(target).toLowerCase();
  if (!NAME_PATTERN.test(name)) throw new Error(`"${basename(target)}" cannot name a function: use a-z, 0-9 and "-"`);
  if (await stat(target).catch(() => undefined)) {
    if ((await readdir(target)).length > 0) throw new Error(`${dir} exists and is not empty`);
  }
  await mkdir(target, { recursive: true });
  await cp(join(TEMPLATES, runtime), target, { recursive: true });
  await substitute(target, name);
  process.stdout.write(`created ${runtime} function "${name}" in ${dir}\n`);
  const build = await stat(join(target, 'build.sh')).catch(() => undefined);
  if (build) process.stdout.write(`build it: ${join(dir, 'build.sh')}\n`);
  process.stdout.write(`deploy it: ${ternCommand()} deploy ${dir}\n`);
}
