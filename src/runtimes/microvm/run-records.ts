/**
 * Which VM processes (and tap devices) this node started, on disk in <data>/microvm/run/. If the
 * node dies without stopping its VMs (and setpriv's parent-death signal was not available), the
 * next start of the runtime kills what is left and removes the records.
 */
import { readdir, readFile, rm, writeFile, mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';

export interface RunRecord {
  /** 0 while the process is not spawned yet (a tap device may already exist). */
  pid: number;
  /** Unique string on the VM process's command line; proves a pid was not reused by another process. */
  marker: string;
  tap?: string;
}

export class RunRecords {
  constructor(readonly dir: string) {}

  async write(record: RunRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, `${record.marker}.json`);
    await writeFile(`${path}.tmp`, JSON.stringify(record));
    await rename(`${path}.tmp`, path);
  }

  async remove(marker: string): Promise<void> {
    await rm(join(this.dir, `${marker}.json`), { force: true });
  }

  /** Records left by an earlier run of this node: each is passed to `reap`, then deleted. */
  async reapLeftovers(reap: (record: RunRecord) => Promise<void>): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return 0;
    }
    let count = 0;
    for (const name of names) {
      const path = join(this.dir, name);
      if (name.endsWith('.json')) {
        const record = parseRecord(await readFile(path, 'utf8').catch(() => ''));
        if (record) {
          await reap(record);
          count++;
        }
      }
      await rm(path, { force: true });
    }
    return count;
  }
}

function parseRecord(text: string): RunRecord | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { pid, marker, tap } = value as Record<string, unknown>;
    if (
      typeof pid !== 'number' ||
      !Number.isInteger(pid) ||
      pid < 0 ||
      pid === 1 ||
      typeof marker !== 'string' ||
      !/^tern-vm-[\w.-]+$/.test(marker)
    )
      return undefined;
    return typeof tap === 'string' ? { pid, marker, tap } : { pid, marker };
  } catch {
    return undefined;
  }
}

/** Kill `pid` only if its command line still carries `marker` (pids get reused). */
export async function killIfOurs(pid: number, marker: string): Promise<boolean> {
  if (pid <= 1) return false;
  let cmdline: string;
  try {
    cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ');
  } catch {
    return false;
  }
  if (!cmdline.includes(marker)) return false;
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}
