/**
 * The deploy-time load check: the handler is imported once in a sandbox like an instance's (no
 * network, the function's memory, a deadline), so code that cannot load — a syntax error, a
 * missing import, a handler that is not there — is refused at deploy with the file and line,
 * not at its first call.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { TernError } from '../../core/errors.js';
import type { DeployedFunction } from '../../registry/registry.js';
import { sandboxEnv } from './env.js';
import type { SandboxKit } from './kit.js';
import { runOnce, type OneShotLimits } from './oneshot.js';
import type { SandboxPlan } from './sandbox.js';

/** Top-level code that runs longer than this at deploy is refused: instances would start as slowly. */
export const LOAD_CHECK_TIMEOUT_MS = 30_000;
const MIB = 1024 * 1024;
/** The check scripts' (shims/{python,node}/…check…) last line on failure. */
const VERDICT = /^tern-check: (.*)$/gm;

function verdictOf(output: string): string | undefined {
  return [...output.matchAll(VERDICT)].pop()?.[1]?.trim();
}

export async function checkLoads(kit: SandboxKit, fn: DeployedFunction, command: string[]): Promise<void> {
  const spec = fn.spec;
  const work = await kit.stage.workspace();
  try {
    const copy = await kit.stage.copyIn(fn.dir, join(work, 'fn'));
    const plan: SandboxPlan = {
      fnDir: copy,
      shimsDir: kit.shimsDir,
      etcDir: kit.etc.offline.dir,
      network: false,
      tmpBytes: spec.memory * MIB,
      hostname: spec.name,
      env: sandboxEnv(spec, 'load-check'),
      command,
      readOnly: [...kit.etc.offline.binds, ...kit.node.binds],
    };
    const limits: OneShotLimits = { memoryMiB: spec.memory, pidsMax: 64, timeoutMs: LOAD_CHECK_TIMEOUT_MS };
    const r = await runOnce(kit, plan, limits, kit.uids.identityOf(spec.name));
    const handler = `handler "${spec.handler}"`;
    if (r.timedOut)
      throw new TernError('bad_spec', `${handler}: loading it took over ${LOAD_CHECK_TIMEOUT_MS / 1000}s at deploy`);
    if (r.oomKills > 0)
      throw new TernError('bad_spec', `${handler}: loading it ran out of memory (memory = ${spec.memory} MiB)`);
    if (r.code !== 0) {
      const why =
        verdictOf(r.output) ?? `exit ${r.code ?? r.signal}: ${r.output.trim().split('\n').slice(-3).join(' | ')}`;
      throw new TernError('bad_spec', `${handler} does not load: ${why}`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
