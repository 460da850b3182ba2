/** Shared bits of the micro-VM tests: the example function, a runtime on temp folders, pgrep. */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { DeployedFunction } from '../../src/registry/registry.js';
import { parseFunctionToml, type FunctionSpec } from '../../src/registry/spec.js';
import { createMicrovmRuntime, type MicrovmOptions } from '../../src/runtimes/microvm/index.js';
import type { LogStream, Runtime } from '../../src/runtimes/runtime.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
export const EXAMPLE = join(REPO, 'examples/hello-vm');

/** Why the VM tests cannot run here, or undefined when they can (builds the example if needed). */
export function vmSkipReason(): string | undefined {
  const qemu = spawnSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' });
  if (qemu.error || qemu.status !== 0) return 'qemu-system-x86_64 is not installed (apt-get install qemu-system-x86)';
  const build = spawnSync('bash', [join(EXAMPLE, 'build.sh')], { encoding: 'utf8' });
  if (build.status !== 0) return `examples/hello-vm/build.sh failed: ${(build.stderr || build.stdout).trim()}`;
  return undefined;
}

export function exampleFunction(edit?: (spec: FunctionSpec) => FunctionSpec, dir = EXAMPLE): DeployedFunction {
  const spec = parseFunctionToml(readFileSync(join(EXAMPLE, 'function.toml'), 'utf8'));
  return { spec: edit ? edit(spec) : spec, dir, version: 'test', deployedAt: new Date().toISOString() };
}

export interface TestRuntime {
  runtime: Runtime;
  root: string;
  scratch: string;
  dataDir: string;
  logs: { line: string; stream: LogStream; instance: string }[];
  log(line: string, stream: LogStream, instance: string): void;
  dispose(): Promise<void>;
}

export async function testRuntime(options: Partial<MicrovmOptions> = {}): Promise<TestRuntime> {
  const root = await mkdtemp(join(tmpdir(), 'tern-microvm-test-'));
  const scratch = join(root, 'scratch');
  const dataDir = join(root, 'data');
  const runtime = createMicrovmRuntime(
    { dataDir, scratchDir: scratch, logger: pino({ level: 'silent' }) },
    { accel: 'auto', tap: false, ...options },
  );
  const logs: TestRuntime['logs'] = [];
  return {
    runtime,
    root,
    scratch,
    dataDir,
    logs,
    log: (line, stream, instance) => void logs.push({ line, stream, instance }),
    async dispose() {
      await runtime.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

/** Processes whose command line contains `pattern` (pgrep -f), as pids. */
export function pgrep(pattern: string): Promise<number[]> {
  return new Promise((resolvePids) => {
    execFile('pgrep', ['-f', pattern], (_error, stdout) => {
      resolvePids(
        stdout
          .split('\n')
          .filter(Boolean)
          .map(Number)
          .filter((pid) => pid !== process.pid),
      );
    });
  });
}

export function exists(path: string): boolean {
  return existsSync(path);
}
