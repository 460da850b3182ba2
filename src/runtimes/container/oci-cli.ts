/**
 * The OCI runtimes Tern can drive (crun, runc, runsc): where each is installed, its version, and
 * the few commands Tern needs. Each keeps its state under Tern's data folder (`--root`), so every
 * container listed there is this node's, and a node that died can clean up after itself.
 */
import { execFile } from 'node:child_process';
import { access, constants, mkdir } from 'node:fs/promises';
import { join } from 'node:path';

export const OCI_RUNTIMES = ['crun', 'runc', 'runsc'] as const;
export type OciRuntimeName = (typeof OCI_RUNTIMES)[number];

const COMMAND_LIMIT_MS = 10_000;

export interface OciRuntime {
  name: OciRuntimeName;
  path: string;
  /** First line of `--version`. */
  version: string;
  /** `--root` folder of this runtime's container state. */
  stateDir: string;
}

export function execText(file: string, args: string[], timeout = COMMAND_LIMIT_MS): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile(file, args, { timeout, maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      if (error) {
        const why = stderr.trim().split('\n').filter(Boolean).slice(-2).join(' | ') || error.message;
        reject(new Error(why));
      } else resolveRun(stdout);
    });
  });
}

async function onPath(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const dir of dirs.filter((d) => d !== '')) {
    const path = join(dir, name);
    if (
      await access(path, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return path;
  }
  return undefined;
}

/** The runtime if installed here (its version answers), else undefined. */
export async function findOciRuntime(name: OciRuntimeName, stateRoot: string): Promise<OciRuntime | undefined> {
  const path = await onPath(name);
  if (!path) return undefined;
  const version = (await execText(path, ['--version'])).split('\n')[0]!.trim();
  const stateDir = join(stateRoot, name);
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  return { name, path, version, stateDir };
}

/** Arguments before the command: state folder, and for gVisor the namespace Tern made as its network. */
export function globalArgs(r: OciRuntime): string[] {
  return r.name === 'runsc' ? ['--root', r.stateDir, '--network=host'] : ['--root', r.stateDir];
}

/** `run` in the foreground: the process lives as long as the container and exits with its status. */
export function runArgs(r: OciRuntime, bundle: string, pidFile: string, id: string): string[] {
  return [...globalArgs(r), 'run', '--bundle', bundle, '--pid-file', pidFile, id];
}

export async function listContainers(r: OciRuntime): Promise<string[]> {
  const out = await execText(r.path, [...globalArgs(r), 'list', '--quiet']);
  return out.split('\n').filter((l) => l.trim() !== '');
}

export async function deleteContainer(r: OciRuntime, id: string): Promise<void> {
  await execText(r.path, [...globalArgs(r), 'delete', '--force', id]);
}
