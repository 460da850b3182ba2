/**
 * Memory of a process and everything under it, from /proc: RSS (what the issue asks for; pages shared
 * between processes count once per process) and PSS (shared pages split between their users, so sums
 * are not inflated) — Linux only.
 */
import { readdirSync, readFileSync } from 'node:fs';

export interface TreeMemory {
  processes: number;
  rssKiB: number;
  /** null where smaps_rollup cannot be read. */
  pssKiB: number | null;
}

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[1]);
  } catch {
    return null;
  }
}

function childrenMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const parent = parentOf(pid);
    if (parent === null) continue;
    const list = children.get(parent) ?? [];
    list.push(pid);
    children.set(parent, list);
  }
  return children;
}

function nulSeparated(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** Whether `pid` runs for function `name`: the name as one argument, or TERN_FUNCTION=name in its environment. */
function runsFunction(pid: number, name: string): boolean {
  return (
    nulSeparated(`/proc/${pid}/cmdline`).includes(name) ||
    nulSeparated(`/proc/${pid}/environ`).includes(`TERN_FUNCTION=${name}`)
  );
}

/** `root` and all its descendants alive now. */
export function processTree(root: number, children = childrenMap()): number[] {
  const tree: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    tree.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return tree;
}

function kiB(text: string, key: string): number | null {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return m ? Number(m[1]) : null;
}

function processMemory(pid: number): { rss: number; pss: number | null } | null {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const rss = kiB(rollup, 'Rss');
    if (rss !== null) return { rss, pss: kiB(rollup, 'Pss') };
  } catch {
    // no smaps_rollup (old kernel, or gone): fall back to status
  }
  try {
    const rss = kiB(readFileSync(`/proc/${pid}/status`, 'utf8'), 'VmRSS');
    return rss === null ? null : { rss, pss: null };
  } catch {
    return null;
  }
}

/**
 * Memory of `root` alone (`self`), and of the process trees under it that run function `name`
 * (`instances`: each direct child's whole tree when some process in it runs for `name`) — so a
 * probe, a spare sandbox launcher or other helper the node keeps meanwhile does not count.
 */
export function nodeMemory(root: number, name: string): { self: TreeMemory; instances: TreeMemory } {
  const children = childrenMap();
  const trees = (children.get(root) ?? []).map((pid) => processTree(pid, children));
  const mine = trees.filter((tree) => tree.some((pid) => runsFunction(pid, name)));
  return { self: sumMemory([root]), instances: sumMemory(mine.flat()) };
}

export function sumMemory(pids: number[]): TreeMemory {
  let rssKiB = 0;
  let pssKiB: number | null = 0;
  let processes = 0;
  for (const pid of pids) {
    const m = processMemory(pid);
    if (m === null) continue;
    processes += 1;
    rssKiB += m.rss;
    pssKiB = pssKiB === null || m.pss === null ? null : pssKiB + m.pss;
  }
  return { processes, rssKiB, pssKiB };
}
