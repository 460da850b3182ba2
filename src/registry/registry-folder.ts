/**
 * `tern serve --registry DIR`: deploy the function folders found in DIR at start.
 * DIR is a folder of function folders (a UniFaaS-style registry directory), or itself one
 * function folder. Each is named by its function.toml `name`, else by its folder name.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { TernError } from '../core/errors.js';
import type { Registry } from './registry.js';
import { parseFunctionTomlWithIgnored } from './spec.js';

export interface RegistryFolderResult {
  loaded: string[];
  failed: { name: string; error: string }[];
}

async function hasFunctionToml(dir: string): Promise<boolean> {
  return (await stat(join(dir, 'function.toml')).catch(() => undefined))?.isFile() === true;
}

async function functionFolders(folder: string): Promise<string[]> {
  if (await hasFunctionToml(folder)) return [folder];
  const found: string[] = [];
  for (const name of (await readdir(folder)).sort()) {
    const dir = join(folder, name);
    if (name.startsWith('.')) continue;
    if ((await stat(dir).catch(() => undefined))?.isDirectory() && (await hasFunctionToml(dir))) found.push(dir);
  }
  return found;
}

export async function loadRegistryFolder(reg: Registry, folder: string, logger: Logger): Promise<RegistryFolderResult> {
  const root = resolve(folder);
  if (!(await stat(root).catch(() => undefined))?.isDirectory())
    throw new TernError('bad_request', `registry folder ${folder}: not a folder`);
  const result: RegistryFolderResult = { loaded: [], failed: [] };
  for (const dir of await functionFolders(root)) {
    let name = basename(dir);
    try {
      const { spec, ignoredKeys } = parseFunctionTomlWithIgnored(
        await readFile(join(dir, 'function.toml'), 'utf8'),
        name,
      );
      name = spec.name;
      if (ignoredKeys.length > 0)
        logger.warn(
          { event: 'registry_folder_unknown_keys', function: name, folder: dir, keys: ignoredKeys },
          `function ${name} (${dir}): function.toml key(s) ${ignoredKeys.join(', ')} unknown to Tern, ignored as UniFaaS ignores them`,
        );
      await reg.deployFolder(name, dir);
      result.loaded.push(name);
    } catch (e) {
      const error = (e as Error).message;
      result.failed.push({ name, error });
      logger.error(
        { event: 'registry_folder_failed', function: name, folder: dir, err: error },
        `cannot load function ${name} from ${dir}: ${error}`,
      );
    }
  }
  return result;
}
