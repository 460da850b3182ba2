/** The function registry interface: the embedded folder store and the etcd store both implement it. */
import type { FunctionSpec } from './spec.js';

/** One deployed version of a function: its spec and its unpacked, immutable code folder. */
export interface DeployedFunction {
  readonly spec: FunctionSpec;
  /** Absolute path of this version's code folder (holds function.toml). Never changes once written. */
  readonly dir: string;
  /** Content hash of the version (hex, 16 chars). */
  readonly version: string;
  /** ISO time of deployment. */
  readonly deployedAt: string;
}

export type ArchiveType = 'tar.gz' | 'zip';

export interface DeployOutcome {
  fn: DeployedFunction;
  /** True when no function of that name existed before. */
  created: boolean;
  /** The version it replaced, if any (its folder stays until `prune`). */
  previous?: DeployedFunction;
}

export type RegistryEvent =
  | { type: 'deployed'; fn: DeployedFunction; previous?: DeployedFunction }
  | { type: 'removed'; name: string; previous: DeployedFunction };

/**
 * Checks a freshly unpacked function before it is committed (e.g. the wasm runtime compiles
 * the module). Throws TernError('bad_spec' | 'bad_archive') to refuse the deploy.
 */
export type DeployValidator = (spec: FunctionSpec, dir: string) => Promise<void>;

export interface Registry {
  /** Load what is stored (and, for the folder store, prune stale versions and temp folders). */
  open(): Promise<void>;
  list(): DeployedFunction[];
  get(name: string): DeployedFunction | undefined;
  /**
   * Deploy from an archive. `name` comes from the URL and wins over the name in the archive's
   * function.toml (which may omit it). Nothing is written unless it all succeeds;
   * a failed deploy leaves the previous version serving.
   */
  deploy(name: string, archive: Buffer, type: ArchiveType): Promise<DeployOutcome>;
  /** Deploy a function folder on disk (copied in), as for `--registry DIR`. */
  deployFolder(name: string, folder: string): Promise<DeployOutcome>;
  remove(name: string): Promise<DeployedFunction | undefined>;
  /** Delete code no longer needed: versions no longer current, and a removed function's folder (call once its instances are drained). */
  prune(name: string): Promise<void>;
  subscribe(listener: (event: RegistryEvent) => void): () => void;
  close(): Promise<void>;
}
