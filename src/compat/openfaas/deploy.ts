/** Stage a planned function folder in a temp folder and hand it to the registry. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isTernError } from '../../core/errors.js';
import type { DeployOutcome } from '../../registry/registry.js';
import { NAME_PATTERN } from '../../registry/spec.js';
import type { OpenfaasContext } from './context.js';
import { httpError } from './http-errors.js';
import { writePlan, type FunctionPlan } from './plan.js';

export function checkFunctionName(name: string): string {
  if (!NAME_PATTERN.test(name))
    throw httpError(
      400,
      `invalid function name ${JSON.stringify(name)}: Tern function names are 1-63 characters of a-z, 0-9 and "-"`,
    );
  return name;
}

/** faasd checks that each secret exists; Tern keeps no OpenFaaS secrets, so any named secret is missing. */
export function checkSecrets(secrets: string[] | null | undefined): void {
  const first = secrets?.[0];
  if (first !== undefined) throw httpError(400, `unable to find secret: ${first}`);
}

export async function deployPlan(ctx: OpenfaasContext, name: string, plan: FunctionPlan): Promise<DeployOutcome> {
  const staging = await mkdtemp(join(ctx.deps.scratchDir ?? tmpdir(), 'tern-openfaas-'));
  try {
    const work = join(staging, name);
    await writePlan(plan, work, ctx.stagingLimits);
    const outcome = await ctx.deps.registry.deployFolder(name, work);
    // Answer once the pool serves the new version, so an invocation right after the reply reaches it.
    await ctx.deps.settled?.(name);
    return outcome;
  } catch (e) {
    // A function the node refuses (bad spec, runtime missing here) is the client's 400, as faasd answers deploy errors.
    if (isTernError(e) && e.status < 500) throw httpError(400, e.message);
    throw e;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
