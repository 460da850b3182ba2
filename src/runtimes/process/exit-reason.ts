/** Why a sandboxed process ended, in the words the caller sees ("out of memory (limit 64 MiB)"). */
import { constants } from 'node:os';
import { JOIN_FAILED_EXIT } from './launch.js';

const SIGNAL_NAMES = new Map<number, string>(Object.entries(constants.signals).map(([name, n]) => [n, name]));

export interface ExitFacts {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** OOM kills counted by the instance's cgroup. */
  oomKills: number;
  memoryMiB: number;
  /** Last lines the process wrote to stderr. */
  stderrTail: string[];
}

function signalText(n: number): string {
  const name = SIGNAL_NAMES.get(n);
  return name ? `killed by signal ${n} (${name})` : `killed by signal ${n}`;
}

const V8_HEAP_OOM = /heap out of memory|Reached heap limit/i;
const PYTHON_MEMORY_ERROR = /^MemoryError\b/;

export function describeExit(f: ExitFacts): string {
  if (f.oomKills > 0 || f.stderrTail.some((l) => V8_HEAP_OOM.test(l) || PYTHON_MEMORY_ERROR.test(l)))
    return `out of memory (limit ${f.memoryMiB} MiB)`;
  let text: string;
  if (f.signal !== null) text = signalText(constants.signals[f.signal] ?? 0);
  else if (f.code === JOIN_FAILED_EXIT) text = 'could not join its cgroup';
  // bwrap passes a killed child on as 128 + signal.
  else if (f.code !== null && f.code > 128 && f.code <= 128 + 64) text = signalText(f.code - 128);
  else text = `exited with code ${f.code ?? '?'}`;
  const last = f.stderrTail.at(-1);
  return last ? `${text}: ${last.length > 300 ? `${last.slice(0, 300)}…` : last}` : text;
}
