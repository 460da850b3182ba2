/** `tern new RUNTIME DIR`: copy a working starter from templates/<runtime>/. */
import { cp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { NAME_PATTERN } from '../registry/spec.js';
import { PROJECT_ROOT } from '../version.js';

const TEMPLATES = join(PROJECT_ROOT, 'templates');

export async function availableTemplates(): Promise<string[]> {
  return (await readdir(TEMPLATES, { withFileTypes: true }).catch(() => []))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
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
  const templates = await availableTemplates();
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
  process.stdout.write(`deploy it: tern deploy ${dir}\n`);
}
