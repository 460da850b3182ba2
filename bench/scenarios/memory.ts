/**
 * Scenario 5: resident memory per idle warm instance, per runtime. Each runtime gets a fresh node and
 * a copy of the hello function with single-use = false and min-instances = max-instances = N; memory
 * is read from /proc before the deploy and once all N instances are idle. Per instance:
 *  - python, node, binary: the RSS (and PSS) of the instances' process trees under the node — their
 *    bwrap sandboxes and interpreters — ÷ N;
 *  - wasm (instances live inside the node): the node process's own RSS growth ÷ N, so the function's
 *    share (compiled module, worker threads) is spread over N instances.
 */
import { deployExample, waitIdleInstances } from '../lib/deploy.js';
import { log, reason } from '../lib/log.js';
import type { Plan } from '../lib/plan.js';
import { nodeMemory } from '../lib/proc-mem.js';
import type { MemoryRow, MemoryScenario, Skipped } from '../lib/schema.js';
import { round } from '../lib/stats.js';
import { startTernNode } from '../lib/tern-node.js';
import { HELLO_TARGETS, type HelloTarget } from './warm-http.js';

const MIB = 1024;
/** Large enough for N instances of any hello; the scenario is about memory, not admission. */
const BUDGET_MIB = 65_536;

async function settle(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

async function measure(t: HelloTarget, plan: Plan): Promise<MemoryRow> {
  const n = t.runtime === 'wasm' ? plan.memoryInstances.wasm : plan.memoryInstances.process;
  const node = await startTernNode({ args: ['--memory-budget', String(BUDGET_MIB)] });
  try {
    await settle(plan.memorySettleMs);
    const name = `${t.example}-mem`;
    const before = nodeMemory(node.pid, name);
    await deployExample(node, t.example, name, {
      'single-use': false,
      'min-instances': n,
      'max-instances': n,
      keepalive: '1h',
    });
    await waitIdleInstances(node, name, n, plan.quick ? 60_000 : 120_000);
    await settle(plan.memorySettleMs);
    const after = nodeMemory(node.pid, name);
    // Still all there? (An instance that died meanwhile would make the figure a lie.)
    await waitIdleInstances(node, name, n, 5_000);
    if (t.runtime !== 'wasm' && after.instances.processes < n)
      throw new Error(`only ${after.instances.processes} processes found for ${n} ${t.runtime} instances`);
    // In-node instances (wasm) grow the node itself; process instances are trees under it.
    const part = t.runtime === 'wasm' ? 'self' : 'instances';
    const rssPer = Math.max(0, after[part].rssKiB - before[part].rssKiB) / n / MIB;
    const pssAfter = after[part].pssKiB;
    const pssBefore = before[part].pssKiB;
    const pssPer = pssAfter === null || pssBefore === null ? null : Math.max(0, pssAfter - pssBefore) / n / MIB;
    return {
      target: `tern ${t.runtime} (${t.example})`,
      runtime: t.runtime,
      instances: n,
      rssPerInstanceMiB: round(rssPer, 4),
      pssPerInstanceMiB: pssPer === null ? null : round(pssPer, 4),
      instancesPerGiB: rssPer > 0 ? Math.floor(1024 / rssPer) : null,
      instancesPerGiBPss: pssPer !== null && pssPer > 0 ? Math.floor(1024 / pssPer) : null,
      processesPerInstance: round(Math.max(0, after.instances.processes - before.instances.processes) / n, 3),
      nodeRssBeforeMiB: round(before.self.rssKiB / MIB, 1),
      nodeRssAfterMiB: round(after.self.rssKiB / MIB, 1),
    };
  } finally {
    await node.stop();
  }
}

export async function memoryScenario(plan: Plan): Promise<MemoryScenario> {
  const rows: MemoryRow[] = [];
  const skipped: Skipped[] = [];
  for (const t of HELLO_TARGETS) {
    try {
      log(`memory: ${t.runtime}`);
      rows.push(await measure(t, plan));
    } catch (e) {
      skipped.push({ target: `tern ${t.runtime} (${t.example})`, reason: reason(e) });
    }
  }
  return {
    id: 'memory',
    title: 'Memory per idle warm instance',
    kind: 'memory',
    method: `A fresh node per runtime; a copy of the hello function with single-use = false and min-instances = max-instances = N (wasm ${plan.memoryInstances.wasm}, others ${plan.memoryInstances.process}); memory read from /proc before the deploy and once all N are idle (${plan.memorySettleMs / 1000} s settle each). Per instance: python/node/binary — RSS (PSS) of the instances' process trees under the node (bwrap sandboxes and interpreters; spare sandbox launchers the node keeps ready are not instances and not counted) ÷ N; wasm, whose instances live in the node — the node process's RSS growth ÷ N. Instances per GiB = 1024 MiB ÷ RSS (or PSS) per instance.`,
    skipped,
    rows,
  };
}
