/** The machine a run happened on: what the results table must name to be comparable. */
import { execFileSync } from 'node:child_process';
import { availableParallelism, cpus, release, totalmem } from 'node:os';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryMiB: number;
  node: string;
  platform: string;
  arch: string;
  kernel: string;
}

export interface SourceInfo {
  commit: string | null;
  /** Uncommitted changes in the tree when the run started. */
  dirty: boolean | null;
}

export function machineInfo(): MachineInfo {
  const list = cpus();
  return {
    cores: availableParallelism(),
    cpuModel: list[0]?.model.trim() || 'unknown',
    memoryMiB: Math.round(totalmem() / (1024 * 1024)),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    kernel: release(),
  };
}

function git(repo: string, args: string[]): string | null {
  try {
    return execFileSync('git', ['-C', repo, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 5_000,
    }).trim();
  } catch {
    return null;
  }
}

export function sourceInfo(repo: string): SourceInfo {
  const commit = git(repo, ['rev-parse', 'HEAD']);
  const status = commit === null ? null : git(repo, ['status', '--porcelain', '--untracked-files=no']);
  return { commit, dirty: status === null ? null : status.length > 0 };
}
