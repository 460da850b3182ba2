/**
 * Deployed workflows, kept in `<data>/workflows/defs/<name>.json`: one file per workflow, replaced
 * atomically (temp file, fsync, rename), so a crash leaves the old definition or the new one.
 * A file that no longer parses at start is skipped with an error in the log, never fatal.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../registry/atomic-file.js';
import { parseAsl, type AslLimits } from './asl.js';
import { allStates, type Machine } from './machine.js';

/** Workflow names: Serverledge's ("myWorkflow") as well as Tern's function names. */
export const WORKFLOW_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$/;

export interface DeployedWorkflow {
  name: string;
  /** The ASL document as it was deployed. */
  definition: string;
  /** A hash of the definition. */
  version: string;
  createdAt: string;
  updatedAt: string;
  machine: Machine;
  /** The functions its Task states name, sorted. */
  functions: string[];
  stateCount: number;
}

interface StoredFile {
  name: string;
  definition: string;
  createdAt: string;
  updatedAt: string;
}

export function describeMachine(machine: Machine): { functions: string[]; stateCount: number } {
  const functions = new Set<string>();
  let stateCount = 0;
  for (const { state } of allStates(machine)) {
    stateCount++;
    if (state.type === 'Task') functions.add(state.resource);
  }
  return { functions: [...functions].sort(), stateCount };
}

function versionOf(definition: string): string {
  return createHash('sha256').update(definition).digest('hex').slice(0, 16);
}

export class WorkflowStore {
  private readonly byName = new Map<string, DeployedWorkflow>();
  /** One change at a time per name: a put and a delete of the same workflow never interleave. */
  private readonly chains = new Map<string, Promise<unknown>>();

  private constructor(private readonly dir: string) {}

  static async open(dir: string, limits: AslLimits, logger: Logger): Promise<WorkflowStore> {
    await mkdir(dir, { recursive: true });
    const store = new WorkflowStore(dir);
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json') && !f.startsWith('.'))) {
      try {
        const stored = JSON.parse(await readFile(join(dir, file), 'utf8')) as StoredFile;
        if (!WORKFLOW_NAME.test(stored.name) || `${stored.name}.json` !== file)
          throw new Error('the name does not match the file');
        store.byName.set(stored.name, build(stored, parseAsl(stored.definition, limits)));
      } catch (e) {
        logger.error({ event: 'workflow_load', file, err: (e as Error).message }, `cannot load workflow ${file}`);
      }
    }
    return store;
  }

  get(name: string): DeployedWorkflow | undefined {
    return this.byName.get(name);
  }

  list(): DeployedWorkflow[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Writes the definition (already parsed and checked as `machine`); `created` when it is new. */
  put(name: string, definition: string, machine: Machine): Promise<{ created: boolean; workflow: DeployedWorkflow }> {
    return this.serial(name, async () => {
      const previous = this.byName.get(name);
      const now = new Date().toISOString();
      const stored: StoredFile = { name, definition, createdAt: previous?.createdAt ?? now, updatedAt: now };
      await writeFileAtomic(join(this.dir, `${name}.json`), `${JSON.stringify(stored)}\n`);
      const workflow = build(stored, machine);
      this.byName.set(name, workflow);
      return { created: previous === undefined, workflow };
    });
  }

  delete(name: string): Promise<boolean> {
    return this.serial(name, async () => {
      if (!this.byName.has(name)) return false;
      await rm(join(this.dir, `${name}.json`), { force: true });
      this.byName.delete(name);
      return true;
    });
  }

  private serial<T>(name: string, work: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(name) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    this.chains.set(name, settled);
    void settled.then(() => {
      if (this.chains.get(name) === settled) this.chains.delete(name);
    });
    return next;
  }
}

function build(stored: StoredFile, machine: Machine): DeployedWorkflow {
  return { ...stored, version: versionOf(stored.definition), machine, ...describeMachine(machine) };
}
