/**
 * Turns an OpenFaaS FunctionDeployment (or a scale request) into a Tern function folder: the image's
 * code plus a function.toml carrying the request's name, env, memory and scale, and the metadata file.
 * The `ctrType` label picks the runtime as FaaSEdge Core does: `wasm` runs a WebAssembly module,
 * `native` a process (python / node / binary, from the folder's function.toml or its files).
 */
import { copyFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { isTernError } from '../../core/errors.js';
import type { ArchiveLimits } from '../../registry/entry-rules.js';
import { copyFolder } from '../../registry/folder-copy.js';
import type { DeployedFunction } from '../../registry/registry.js';
import { normaliseSpec } from '../../registry/spec.js';
import { httpError } from './http-errors.js';
import type { ImageSource } from './image.js';
import { META_FILE, type OpenfaasMeta } from './metadata.js';
import { memoryQuantityMiB } from './quantity.js';
import type { FunctionDeployment } from './requests.js';

export const CTR_TYPE_LABEL = 'ctrType';
export const SCALE_MIN_LABEL = 'com.openfaas.scale.min';
export const SCALE_MAX_LABEL = 'com.openfaas.scale.max';
/** function.toml's bound on min-instances. */
export const MAX_REPLICAS = 1000;
const DEFAULT_MAX_INSTANCES = 8;

type Toml = Record<string, unknown>;

export interface FunctionPlan {
  source: ImageSource;
  toml: Toml;
  meta: OpenfaasMeta;
}

function isTable(v: unknown): v is Toml {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function readToml(text: string, what: string): Toml {
  try {
    return parseToml(text) as Toml;
  } catch (e) {
    throw httpError(400, `${what}: ${(e as Error).message.split('\n')[0]}`);
  }
}

/** The runtime a function.toml object asks for (as spec.ts derives it). */
function runtimeOf(toml: Toml): string | undefined {
  if (typeof toml.runtime === 'string') return toml.runtime;
  if (toml.vm !== undefined) return 'microvm';
  if (toml.container !== undefined) return 'container';
  return undefined;
}

function ctrTypeOf(labels: Record<string, string>): 'native' | 'wasm' | undefined {
  const v = labels[CTR_TYPE_LABEL];
  if (v === undefined) return undefined;
  if (v === 'native' || v === 'wasm') return v;
  throw httpError(400, `label ${CTR_TYPE_LABEL}: ${JSON.stringify(v)} is not one of "native", "wasm"`);
}

/** A folder without function.toml: the runtime from ctrType and the files present. */
async function inferToml(dir: string, ctrType: 'native' | 'wasm' | undefined, image: string): Promise<Toml> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = new Set(entries.filter((e) => e.isFile()).map((e) => e.name));
  const modules = [...files].filter((f) => f.endsWith('.wasm')).sort();
  const wasm = (): Toml => {
    if (files.has('main.wasm')) return { runtime: 'wasm', handler: 'main.wasm' };
    if (modules.length === 1) return { runtime: 'wasm', handler: modules[0]! };
    throw httpError(
      400,
      `image ${image}: ${modules.length === 0 ? 'no .wasm module' : `several .wasm modules (${modules.join(', ')}) and no main.wasm`}; add a function.toml naming the handler`,
    );
  };
  if (ctrType === 'wasm') return wasm();
  if (files.has('main.py')) return { runtime: 'python', handler: 'main:handle' };
  if (files.has('handler.py')) return { runtime: 'python', handler: 'handler:handle' };
  if (files.has('index.js')) return { runtime: 'node', handler: 'index.js' };
  if (files.has('handler.js')) return { runtime: 'node', handler: 'handler.js' };
  if (files.has('main') && ((await stat(join(dir, 'main'))).mode & 0o111) !== 0)
    return { runtime: 'binary', handler: 'main' };
  if (ctrType === undefined && modules.length > 0) return wasm();
  throw httpError(
    400,
    `image ${image}: cannot tell how to run it; add a function.toml, or main.py, index.js, an executable "main"${ctrType === 'native' ? '' : ' or a .wasm module'}`,
  );
}

async function baseToml(source: ImageSource, ctrType: 'native' | 'wasm' | undefined, image: string): Promise<Toml> {
  if (source.kind === 'container') {
    if (ctrType === 'wasm')
      throw httpError(400, `image ${image} is a container image: it cannot run as ${CTR_TYPE_LABEL}=wasm`);
    return { runtime: 'container', image: source.ref };
  }
  if (source.kind === 'wasm') {
    if (ctrType === 'native')
      throw httpError(400, `image ${image} is a WebAssembly module: it needs ${CTR_TYPE_LABEL}=wasm`);
    return { runtime: 'wasm', handler: basename(source.path) };
  }
  const text = await readFile(join(source.path, 'function.toml'), 'utf8').catch(() => undefined);
  if (text === undefined) return inferToml(source.path, ctrType, image);
  const toml = readToml(text, `image ${image}: function.toml`);
  const runtime = runtimeOf(toml);
  if (ctrType === 'wasm' && runtime !== 'wasm')
    throw httpError(
      400,
      `label ${CTR_TYPE_LABEL}=wasm, but image ${image} is a ${JSON.stringify(runtime ?? 'unknown')} function`,
    );
  if (ctrType === 'native' && runtime === 'wasm')
    throw httpError(400, `label ${CTR_TYPE_LABEL}=native, but image ${image} is a WebAssembly function`);
  return toml;
}

function wholeLabel(labels: Record<string, string>, key: string): number | undefined {
  const v = labels[key];
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim()) || Number(v) > MAX_REPLICAS)
    throw httpError(400, `label ${key}: ${JSON.stringify(v)} is not a whole number 0..${MAX_REPLICAS}`);
  return Number(v);
}

/** min-instances = `min`; max-instances rises to it when lower, so the pair stays valid. */
function setMinInstances(toml: Toml, min: number): void {
  toml['min-instances'] = min;
  const max = typeof toml['max-instances'] === 'number' ? toml['max-instances'] : DEFAULT_MAX_INSTANCES;
  if (max < min) toml['max-instances'] = min;
}

/** Fails early, with function.toml's own message, what the registry would refuse after copying. */
function validate(toml: Toml, name: string): void {
  try {
    normaliseSpec(toml, name);
  } catch (e) {
    if (isTernError(e)) throw httpError(400, e.message);
    throw e;
  }
}

export async function planDeployment(
  name: string,
  req: FunctionDeployment,
  source: ImageSource,
  kept: Pick<OpenfaasMeta, 'replicas' | 'createdAt'> = {},
): Promise<FunctionPlan> {
  const keptReplicas = kept.replicas;
  const labels = req.labels ?? {};
  const toml = await baseToml(source, ctrTypeOf(labels), req.image);
  toml.name = name;

  const env: Toml = isTable(toml.env) ? { ...toml.env } : {};
  // As faasd's prepareEnv: envProcess becomes `fprocess`, unless envVars sets it.
  if (req.envProcess) env.fprocess = req.envProcess;
  Object.assign(env, req.envVars ?? {});
  if (Object.keys(env).length > 0) toml.env = env;

  if (req.limits?.memory) {
    const mib = memoryQuantityMiB('limits.memory', req.limits.memory);
    toml.memory = mib;
    if (isTable(toml.vm)) toml.vm = { ...toml.vm, memory: mib };
  }

  const max = wholeLabel(labels, SCALE_MAX_LABEL);
  if (max !== undefined) toml['max-instances'] = Math.max(max, 1);
  const min = wholeLabel(labels, SCALE_MIN_LABEL) ?? keptReplicas;
  if (min !== undefined) setMinInstances(toml, min);

  validate(toml, name);
  const meta: OpenfaasMeta = {
    image: req.image,
    labels,
    annotations: req.annotations ?? {},
    constraints: req.constraints ?? [],
    ...(req.envProcess ? { envProcess: req.envProcess } : {}),
    ...(req.readOnlyRootFilesystem !== undefined ? { readOnlyRootFilesystem: req.readOnlyRootFilesystem } : {}),
    ...(keptReplicas !== undefined && wholeLabel(labels, SCALE_MIN_LABEL) === undefined
      ? { replicas: keptReplicas }
      : {}),
    createdAt: kept.createdAt ?? new Date().toISOString(),
  };
  return { source, toml, meta };
}

/** The deployed version again, with min-instances = replicas. */
export async function planRescale(
  fn: DeployedFunction,
  replicas: number,
  meta: OpenfaasMeta | undefined,
): Promise<FunctionPlan> {
  if (replicas > MAX_REPLICAS) throw httpError(400, `replicas: ${replicas} is more than ${MAX_REPLICAS}`);
  const toml = readToml(await readFile(join(fn.dir, 'function.toml'), 'utf8'), 'function.toml');
  toml.name = fn.spec.name;
  setMinInstances(toml, replicas);
  validate(toml, fn.spec.name);
  return {
    source: { kind: 'folder', path: fn.dir },
    toml,
    meta: { labels: {}, annotations: {}, constraints: [], createdAt: fn.deployedAt, ...meta, replicas },
  };
}

/** Write the plan into `work` (which must not exist yet). */
export async function writePlan(plan: FunctionPlan, work: string, limits: ArchiveLimits): Promise<void> {
  if (plan.source.kind === 'folder') {
    await copyFolder(plan.source.path, work, limits);
  } else if (plan.source.kind === 'container') {
    // The image stays in the node's store: the folder holds only function.toml and the metadata.
    await mkdir(work, { recursive: true });
  } else {
    const size = (await stat(plan.source.path)).size;
    if (size > limits.unpackedBytes)
      throw httpError(
        400,
        `image ${plan.source.path}: ${size} bytes, more than the node's limit (${limits.unpackedBytes})`,
      );
    await mkdir(work, { recursive: true });
    await copyFile(plan.source.path, join(work, basename(plan.source.path)));
  }
  await writeFile(join(work, 'function.toml'), stringifyToml(plan.toml));
  await writeFile(join(work, META_FILE), `${JSON.stringify(plan.meta, null, 2)}\n`);
}
