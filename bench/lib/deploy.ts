/**
 * Deploys a copy of an example under another name with spec keys changed (single-use, min-instances…),
 * the way a user would: the folder packed as .tar.gz and PUT to /v1/functions/NAME.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'smol-toml';
import { packFolder } from '../../src/registry/archive.js';
import { EXAMPLES } from './paths.js';
import type { TernNode } from './tern-node.js';

export type SpecOverrides = Record<string, string | number | boolean>;

/** Build an example if its build output is missing (setup normally built it already). */
export function ensureBuilt(example: string): void {
  const dir = join(EXAMPLES, example);
  const build = join(dir, 'build.sh');
  if (!existsSync(build)) return;
  const wasm = example === 'hello' ? 'hello.wasm' : example === 'sieve' ? 'sieve.wasm' : null;
  if (wasm !== null && existsSync(join(dir, wasm))) return;
  execFileSync('bash', [build], { stdio: 'pipe', timeout: 120_000 });
}

export async function deployExample(
  node: TernNode,
  example: string,
  name: string,
  overrides: SpecOverrides = {},
): Promise<void> {
  ensureBuilt(example);
  const dir = await mkdtemp(join(tmpdir(), 'tern-bench-fn-'));
  try {
    await cp(join(EXAMPLES, example), dir, { recursive: true });
    const spec = parse(await readFile(join(dir, 'function.toml'), 'utf8'));
    Object.assign(spec, { name, ...overrides });
    await writeFile(join(dir, 'function.toml'), stringify(spec));
    const archive = await packFolder(dir);
    const res = await node.api('PUT', `/v1/functions/${name}`, archive, 'application/gzip');
    if (res.status !== 201 && res.status !== 200)
      throw new Error(`deploying ${name} (from examples/${example}) answered ${res.status}: ${await res.text()}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function removeFunction(node: TernNode, name: string): Promise<void> {
  const res = await node.api('DELETE', `/v1/functions/${name}`);
  if (res.status !== 204 && res.status !== 404)
    throw new Error(`removing ${name} answered ${res.status}: ${await res.text()}`);
}

interface Described {
  status?: { instances?: { idle?: number; starting?: number; busy?: number; total?: number } };
}

/** Wait until `name` has `count` idle instances (prewarm done); polls the node, bounded by `timeoutMs`. */
export async function waitIdleInstances(node: TernNode, name: string, count: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await node.api('GET', `/v1/functions/${name}`);
    const body = (await res.json()) as Described;
    const idle = body.status?.instances?.idle ?? 0;
    if (idle >= count) return;
    const last = JSON.stringify(body.status?.instances ?? {});
    if (Date.now() > deadline)
      throw new Error(`${name}: ${count} idle instances not reached within ${timeoutMs} ms (last ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
