/**
 * Guard rails on the shape of src/: no import cycle between its top-level units (a folder
 * src/<name>/ or a file src/<name>.ts; src/config.ts and src/config/ are one unit), and no source
 * file over 600 lines. Which unit may import which is eslint's job (MAY_IMPORT in eslint.config.js);
 * this catches what a per-file rule cannot see: a loop closed across several folders.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, test } from 'node:test';
import { REPO } from '../helpers/node.js';

const SRC = join(REPO, 'src');
const MAX_LINES = 600;
/** Relative specifiers of static imports, re-exports and dynamic imports. */
const IMPORT =
  /(?:^|[\s;])(?:import|export)\s[^'";]*?from\s*['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

/** The top-level unit a path under src/ belongs to: its first folder, or the file's name. */
function unitOf(path: string): string {
  const first = relative(SRC, path).split(sep)[0] ?? '';
  return first.replace(/\.ts$/, '');
}

/** Unit → unit → the imports (file => target) that make the edge. */
type Graph = Map<string, Map<string, string[]>>;

function importGraph(files: string[]): Graph {
  const graph: Graph = new Map();
  for (const file of files) {
    const from = unitOf(file);
    const edges = graph.get(from) ?? new Map<string, string[]>();
    graph.set(from, edges);
    for (const m of readFileSync(file, 'utf8').matchAll(IMPORT)) {
      const spec = m[1] ?? m[2] ?? '';
      const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
      if (!target.startsWith(SRC + sep)) continue;
      const to = unitOf(target);
      if (to === from) continue;
      const why = edges.get(to) ?? [];
      why.push(`${relative(SRC, file)} => ${relative(SRC, target)}`);
      edges.set(to, why);
    }
  }
  return graph;
}

/** Strongly connected components with more than one unit (Tarjan): each is at least one cycle. */
function cycles(graph: Graph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1) found.push(component.sort());
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

function describeCycle(graph: Graph, component: string[]): string {
  const inside = new Set(component);
  const edges = component.flatMap((from) =>
    [...(graph.get(from) ?? new Map<string, string[]>())]
      .filter(([to]) => inside.has(to))
      .map(([to, why]) => `  ${from} -> ${to}: ${why.slice(0, 3).join(', ')}${why.length > 3 ? ', …' : ''}`),
  );
  return `${component.join(', ')}\n${edges.join('\n')}`;
}

describe('the shape of src/', () => {
  const files = sourceFiles(SRC);

  test('no import cycle between top-level units', () => {
    const graph = importGraph(files);
    assert.ok(graph.size > 10, `found only ${graph.size} units under ${SRC}`);
    const found = cycles(graph);
    assert.deepEqual(
      found.map((c) => describeCycle(graph, c)),
      [],
      'a cycle between folders: move the shared types down (often to src/core) or invert the dependency',
    );
  });

  test(`no source file over ${MAX_LINES} lines`, () => {
    const long = files
      .map((f) => ({ file: relative(REPO, f), lines: readFileSync(f, 'utf8').split('\n').length - 1 }))
      .filter((f) => f.lines > MAX_LINES)
      .map((f) => `${f.file}: ${f.lines} lines`);
    assert.deepEqual(long, [], 'split where the split shows the design');
  });

  test('the cycle check sees a cycle', () => {
    const graph: Graph = new Map([
      ['a', new Map([['b', ['a/x.ts => b/y.ts']]])],
      ['b', new Map([['c', ['b/y.ts => c/z.ts']]])],
      ['c', new Map([['a', ['c/z.ts => a/x.ts']]])],
      ['d', new Map([['a', ['d/w.ts => a/x.ts']]])],
    ]);
    assert.deepEqual(cycles(graph), [['a', 'b', 'c']]);
  });
});
