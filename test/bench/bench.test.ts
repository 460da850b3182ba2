/**
 * The bench suite must not rot: its quick mode runs every scenario with tiny loads against real
 * nodes and peers, and the results it writes must be well formed. No timing is asserted here —
 * timing belongs to `make bench`.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { evaluateGoals } from '../../bench/lib/goals.js';
import { RESULT_SCHEMA_ID, resultFileSchema, type ResultFile, type Scenario } from '../../bench/lib/schema.js';
import { renderMarkdown } from '../../bench/lib/table.js';
import { flattenFigures } from '../../bench/scenarios/components.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const RUN = join(REPO, 'dist/bench/run.js');
const RESULTS = join(REPO, 'bench/results');

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Run the bench CLI; `onLine` sees each stderr line (and may signal the child). */
function runBench(
  args: string[],
  onLine?: (line: string, child: ReturnType<typeof spawn>) => void,
  timeoutMs = 280_000,
): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [RUN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let pending = '';
    child.stdout.resume();
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      pending += c.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLine?.(line, child);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bench did not finish in ${timeoutMs} ms:\n${stderr.slice(-4000)}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr });
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function resultsListing(): string[] {
  return existsSync(RESULTS) ? readdirSync(RESULTS).sort() : [];
}

describe('bench --quick', () => {
  let out: string;
  let result: ResultFile;
  let markdown: string;
  let resultsBefore: string[];
  let finished: Finished;

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'tern-bench-test-'));
    resultsBefore = resultsListing();
    finished = await runBench(['--quick', '--out', out]);
    const files = readdirSync(out);
    const json = files.find((f) => f.endsWith('.json'));
    const md = files.find((f) => f.endsWith('.md'));
    assert.ok(
      json && md,
      `expected a .json and a .md in ${out}, found ${files.join(', ')}\n${finished.stderr.slice(-4000)}`,
    );
    result = resultFileSchema.parse(JSON.parse(await readFile(join(out, json), 'utf8')));
    markdown = await readFile(join(out, md), 'utf8');
  });

  after(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  test('exits 0, writes only to the folder given, not bench/results', () => {
    assert.equal(finished.code, 0, finished.stderr.slice(-4000));
    assert.deepEqual(resultsListing(), resultsBefore);
    assert.equal(result.quick, true);
  });

  test('names the machine', () => {
    assert.ok(result.machine.cores >= 1);
    assert.ok(result.machine.memoryMiB > 0);
    assert.ok(result.machine.cpuModel.length > 0);
    assert.match(result.machine.node, /^v\d+\./);
  });

  test('every scenario ran every target, nothing skipped', () => {
    const expected: Record<string, string[]> = {
      'warm-http': [
        'node:http (inline)',
        'workerd',
        'tern wasm (hello)',
        'tern python (hello-python)',
        'tern node (hello-node)',
        'tern binary (echo-binary)',
      ],
      'cold-start': [
        'wasm inline (node:wasi, in-process)',
        'tern wasm (hello, single-use)',
        'python3 -c pass (spawn)',
        'python3 -c (spawn)',
        'tern python (hello-python, single-use)',
        'node -e (spawn)',
        'tern node (hello-node, single-use)',
        'sh echo.sh (spawn)',
        'tern binary (echo-binary, single-use)',
      ],
      sieve: [
        'node:http (inline)',
        'workerd',
        'tern wasm (sieve)',
        'tern python (sieve-python)',
        'tern node (sieve-node)',
      ],
      protocols: ['tern http (hello)', 'tern coap (hello)', 'tern grpc (hello)'],
      workflow: ['direct: 3 sequential calls', 'tern workflow: 3 Task states'],
      memory: [
        'tern wasm (hello)',
        'tern python (hello-python)',
        'tern node (hello-node)',
        'tern binary (echo-binary)',
      ],
      'core-scaling': [
        'node:http 1 process, hello @1',
        'node:http 1 process, sieve @1',
        'tern wasm hello @1',
        'tern wasm sieve @1',
        'tern python hello @1',
        'tern node hello @1',
      ],
    };
    assert.deepEqual(
      result.scenarios.map((s) => s.id),
      Object.keys(expected),
    );
    for (const s of result.scenarios) {
      assert.deepEqual(s.skipped, [], `${s.id} skipped targets`);
      assert.deepEqual(
        s.rows.map((r) => r.target),
        expected[s.id],
        `${s.id} rows`,
      );
      if (s.kind === 'latency') {
        for (const r of s.rows) assert.ok(r.requests > 0, `${s.id} / ${r.target}: no successful request`);
        // Every Tern row is compared with at least one reference.
        for (const r of s.rows.filter((x) => x.role === 'tern' && s.id !== 'protocols'))
          assert.ok(r.vs.length > 0, `${s.id} / ${r.target}: no comparison`);
      } else {
        for (const r of s.rows) assert.ok(r.instances > 0);
      }
    }
  });

  test('every goal is evaluated', () => {
    assert.deepEqual(
      result.goals.map((g) => g.id),
      [
        'warm-wasm-http',
        'cold-wasm',
        'cold-python',
        'cold-node',
        'wasm-density',
        'workflow-overhead',
        'scaling-wasm-hello',
        'scaling-wasm-sieve',
        'scaling-python-hello',
        'scaling-node-hello',
      ],
    );
    for (const g of result.goals) {
      assert.notEqual(g.measured, null, `${g.id} not measured`);
      assert.equal(typeof g.met, 'boolean');
    }
  });

  test("the other helpers' bench files that exist run; absent ones are skipped with a reason", () => {
    assert.ok(result.components.length >= 5);
    for (const c of result.components) {
      const present = existsSync(join(REPO, c.source));
      if (present) assert.equal(c.status, 'ok', `${c.source}: ${c.reason}`);
      else assert.equal(c.status, 'skipped');
      if (c.status === 'skipped') assert.ok(c.reason && c.reason.length > 0);
      else assert.ok(Object.keys(c.figures).length > 0, `${c.source} gave no figures`);
    }
  });

  test('the Markdown table shows the machine, the goals and every scenario', () => {
    assert.match(markdown, /^# Tern benchmarks/);
    assert.ok(markdown.includes(result.machine.cpuModel));
    assert.match(markdown, /## Goals\n\n\| goal \| target \| measured \| status \|/);
    for (const g of result.goals) assert.ok(markdown.includes(g.text), g.text);
    for (const s of result.scenarios) {
      assert.ok(markdown.includes(s.title), s.title);
      for (const r of s.rows) assert.ok(markdown.includes(r.target), r.target);
    }
  });
});

describe('bench interrupted', () => {
  test('SIGINT stops every node and peer it started', async () => {
    const pids: number[] = [];
    let signalled = false;
    const finished = await runBench(
      ['--quick', '--only', 'warm-http', '--out', join(tmpdir(), 'tern-bench-never')],
      (line, child) => {
        const m = /pid (\d+) serving on/.exec(line);
        if (m) pids.push(Number(m[1]));
        // Interrupt once the first scenario starts (the node and both peers are up by then).
        if (!signalled && line.includes('warm-http: ')) {
          signalled = true;
          child.kill('SIGINT');
        }
      },
    );
    assert.ok(signalled, `the run never reached a Tern target:\n${finished.stderr.slice(-4000)}`);
    assert.equal(finished.code, 130);
    assert.equal(pids.length, 3, `expected a node and two peers, saw pids ${pids.join(', ')}`);
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid} still running`);
    assert.equal(existsSync(join(tmpdir(), 'tern-bench-never')), false);
  });
});

describe('bench helpers', () => {
  test('goals read the right rows and say whether each is met', () => {
    const row = (
      target: string,
      runtime: string | null,
      role: 'tern' | 'reference',
      medianMs: number,
      vs: Array<{ reference: string; ratio: number }> = [],
    ) => ({
      target,
      role,
      runtime,
      medianMs,
      p99Ms: medianMs,
      rps: 1,
      requests: 1,
      errors: 0,
      vs,
      extra: {},
    });
    const scenarios: Scenario[] = [
      {
        id: 'warm-http',
        title: 't',
        method: 'm',
        kind: 'latency',
        ratio: 'throughput',
        skipped: [],
        rows: [row('w', 'wasm', 'tern', 1, [{ reference: 'node:http (inline)', ratio: 0.9 }])],
      },
      {
        id: 'cold-start',
        title: 't',
        method: 'm',
        kind: 'latency',
        ratio: 'latency',
        skipped: [],
        rows: [row('a', 'wasm', 'tern', 2), row('b', 'python', 'tern', 10), row('c', 'node', 'tern', 60)],
      },
    ];
    const goals = Object.fromEntries(evaluateGoals(scenarios).map((g) => [g.id, g]));
    assert.equal(goals['warm-wasm-http']!.met, true);
    assert.equal(goals['cold-wasm']!.met, false);
    assert.equal(goals['cold-python']!.met, true);
    assert.equal(goals['cold-node']!.met, false);
    assert.equal(goals['wasm-density']!.met, null);
    assert.equal(goals['wasm-density']!.measured, null);
    assert.equal(goals['workflow-overhead']!.met, null);
  });

  test('the table keeps whole numbers whole and marks skipped components', () => {
    const file = resultFileSchema.parse({
      schema: RESULT_SCHEMA_ID,
      date: '2026-01-02T03:04:05.000Z',
      quick: false,
      elapsedS: 1,
      machine: {
        cores: 2,
        cpuModel: 'Test CPU',
        memoryMiB: 1024,
        node: 'v20.0.0',
        platform: 'linux',
        arch: 'x64',
        kernel: '6',
      },
      source: { commit: null, dirty: null },
      scenarios: [
        {
          id: 'memory',
          title: 'Memory',
          method: 'm',
          kind: 'memory',
          skipped: [],
          rows: [
            {
              target: 'tern python (x)',
              runtime: 'python',
              instances: 8,
              rssPerInstanceMiB: 12.5,
              pssPerInstanceMiB: 4.5,
              instancesPerGiB: 80,
              instancesPerGiBPss: 100,
              processesPerInstance: 3,
              nodeRssBeforeMiB: 1,
              nodeRssAfterMiB: 2,
            },
          ],
        },
      ],
      components: [
        { name: 'offload hop', source: 'bench/offload.ts', status: 'skipped', reason: 'not available', seconds: 0 },
      ],
      goals: [],
    });
    const md = renderMarkdown(file);
    assert.ok(md.includes('| tern python (x) | 8 | 12.5 | 4.5 | 80 | 100 | 3 |'), md);
    assert.ok(md.includes('**offload hop** (bench/offload.ts): skipped — not available'), md);
  });

  test('component figures are flattened to finite numbers, strings and booleans', () => {
    assert.deepEqual(flattenFigures({ a: 1.23456789, b: { c: 'x', d: Number.NaN }, e: [true], f: null }), {
      a: 1.2346,
      'b.c': 'x',
      'b.d': null,
      'e.0': true,
      f: null,
    });
  });
});
