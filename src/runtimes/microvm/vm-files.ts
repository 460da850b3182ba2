/**
 * A function's kernel and image: paths relative to its folder, checked to stay inside it
 * (symlinks included), to be regular files, and the image classified.
 */
import { realpath, stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { TernError } from '../../core/errors.js';
import type { VmSpec } from '../../registry/spec.js';
import { detectImageKind, type ImageKind } from './image-kind.js';

export interface VmFiles {
  kernel: string;
  image: string;
  imageKind: ImageKind;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

async function resolveFile(dir: string, realDir: string, key: string, value: string): Promise<string> {
  const candidate = resolve(dir, value);
  if (isAbsolute(value) || !inside(dir, candidate)) {
    throw new TernError('bad_spec', `vm.${key}: "${value}" must be a path inside the function folder`);
  }
  let real: string;
  try {
    real = await realpath(candidate);
  } catch {
    throw new TernError(
      'bad_spec',
      `vm.${key}: "${value}" does not exist in the function folder (is the example built?)`,
    );
  }
  if (!inside(realDir, real))
    throw new TernError('bad_spec', `vm.${key}: "${value}" points outside the function folder`);
  const info = await stat(real);
  if (!info.isFile()) throw new TernError('bad_spec', `vm.${key}: "${value}" is not a regular file`);
  if (info.size === 0) throw new TernError('bad_spec', `vm.${key}: "${value}" is empty`);
  return real;
}

export async function resolveVmFiles(dir: string, vm: VmSpec): Promise<VmFiles> {
  const realDir = await realpath(dir);
  const kernel = await resolveFile(dir, realDir, 'kernel', vm.kernel);
  const image = await resolveFile(dir, realDir, 'image', vm.image);
  return { kernel, image, imageKind: await detectImageKind(image, vm.image) };
}
