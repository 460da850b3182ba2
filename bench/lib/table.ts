/** The results as Markdown: machine, goals, one table per scenario, the component figures. */
import type { Goal, ResultFile } from './schema.js';

type Latency = Extract<ResultFile['scenarios'][number], { kind: 'latency' }>;
type Memory = Extract<ResultFile['scenarios'][number], { kind: 'memory' }>;
type Component = ResultFile['components'][number];

function num(v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined) return '—';
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  if (v !== 0 && Math.abs(v) < 0.01) return v.toPrecision(2);
  const fixed = v.toFixed(digits);
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function table(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
}

export function machineLine(r: ResultFile): string {
  const m = r.machine;
  const commit = r.source.commit
    ? ` · commit ${r.source.commit.slice(0, 10)}${r.source.dirty ? ' (uncommitted changes)' : ''}`
    : '';
  return `${m.cores} cores · ${m.cpuModel} · ${(m.memoryMiB / 1024).toFixed(1)} GiB · Node ${m.node} · ${m.platform} ${m.kernel} ${m.arch}${commit}`;
}

export function goalsTable(goals: Goal[]): string {
  const met = (g: Goal) => (g.met === null ? 'not measured' : g.met ? '**met**' : 'not met');
  return table(
    ['goal', 'target', 'measured', 'status'],
    goals.map((g) => [
      g.text,
      g.target,
      g.measured === null ? '—' : g.unit === '×' ? `${num(g.measured)}×` : `${num(g.measured)} ${g.unit}`,
      met(g),
    ]),
  );
}

function latencyTable(s: Latency): string {
  // One column per reference, in the order the reference rows appear; with one reference per row
  // (cold starts: each runtime against its own) a single column, the reference being the row above.
  const used = new Set(s.rows.flatMap((r) => r.vs.map((v) => v.reference)));
  const single = s.rows.every((r) => r.vs.length <= 1) && used.size > 1;
  const order = s.rows.map((r) => r.target).filter((t) => used.has(t));
  const refs = single ? [] : [...new Set([...order, ...used])];
  const ratioCells = (r: Latency['rows'][number]): string[] =>
    single
      ? [r.vs[0]?.ratio === null || r.vs[0] === undefined ? '—' : `${num(r.vs[0].ratio)}×`]
      : refs.map((ref) => {
          const v = r.vs.find((x) => x.reference === ref);
          return v?.ratio === null || v === undefined ? '—' : `${num(v.ratio)}×`;
        });
  const header = [
    'target',
    'median ms',
    'p99 ms',
    s.ratio === 'latency' ? 'starts/s' : 'req/s',
    'errors',
    ...(single ? ['vs its reference'] : refs.map((r) => `vs ${r}`)),
  ];
  const rows = s.rows.map((r) => [
    r.role === 'reference' ? `*${r.target}*` : r.target,
    num(r.medianMs, 3),
    num(r.p99Ms, 3),
    num(r.rps, 0),
    String(r.errors),
    ...ratioCells(r),
  ]);
  return table(header, rows) + extrasLines(s);
}

/** The workflow scenario's own figures (the node's account), under its table. */
function extrasLines(s: Latency): string {
  if (s.id !== 'workflow') return '';
  const lines = s.rows
    .filter((r) => Object.keys(r.extra).length > 0)
    .map(
      (r) =>
        `- ${r.target}: ${Object.entries(r.extra)
          .map(([k, v]) => `${k} ${typeof v === 'number' ? num(v, 3) : String(v)}`)
          .join(', ')}`,
    );
  return lines.length ? `\n\n${lines.join('\n')}` : '';
}

function memoryTable(s: Memory): string {
  return table(
    [
      'target',
      'instances',
      'RSS MiB / instance',
      'PSS MiB / instance',
      'per GiB (RSS)',
      'per GiB (PSS)',
      'processes / instance',
    ],
    s.rows.map((r) => [
      r.target,
      String(r.instances),
      num(r.rssPerInstanceMiB, 3),
      num(r.pssPerInstanceMiB, 3),
      num(r.instancesPerGiB, 0),
      num(r.instancesPerGiBPss, 0),
      num(r.processesPerInstance),
    ]),
  );
}

function componentLines(components: Component[]): string {
  return components
    .map((c) => {
      if (c.status === 'skipped') return `- **${c.name}** (${c.source}): skipped — ${c.reason ?? 'no reason given'}`;
      // Sample counts stay in the JSON; the line keeps the figures.
      const figures = Object.entries(c.figures ?? {})
        .filter(([k]) => !k.endsWith('.samples'))
        .map(([k, v]) => `${k} ${typeof v === 'number' ? num(v, 3) : String(v)}`)
        .join(', ');
      return `- **${c.name}** (${c.source}, ${num(c.seconds, 1)} s): ${figures || 'no figures'}`;
    })
    .join('\n');
}

/** Scenario tables only (for the README), headings at `level`. */
export function scenarioTables(r: ResultFile, level = 3): string {
  const h = '#'.repeat(level);
  return r.scenarios
    .map((s, i) => {
      const body = s.kind === 'latency' ? latencyTable(s) : memoryTable(s);
      const skipped = s.skipped.length
        ? `\n\nSkipped: ${s.skipped.map((k) => `${k.target} — ${k.reason}`).join('; ')}`
        : '';
      return `${h} ${i + 1}. ${s.title}\n\n${body}${skipped}`;
    })
    .join('\n\n');
}

export function renderMarkdown(r: ResultFile): string {
  const methods = r.scenarios.map((s, i) => `${i + 1}. **${s.title}** — ${s.method}`).join('\n');
  return (
    [
      `# Tern benchmarks — ${r.date.slice(0, 16).replace('T', ' ')} UTC${r.quick ? ' (quick run: tiny loads, figures meaningless)' : ''}`,
      `Machine: ${machineLine(r)}. Whole run: ${num(r.elapsedS, 0)} s. Reproduce: \`make bench\`.`,
      `## Goals\n\n${goalsTable(r.goals)}`,
      scenarioTables(r, 2),
      `## Per-component figures\n\n${componentLines(r.components)}`,
      `## How each scenario was run\n\n${methods}`,
    ].join('\n\n') + '\n'
  );
}
