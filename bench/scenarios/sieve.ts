/** Scenario 3: the tinyFaaS sieve of Eratosthenes (n = 10000), warm, per runtime, against the same peers. */
import type { LatencyScenario, Skipped } from '../lib/schema.js';
import { compareTargets, contains, type HttpTarget } from './compare.js';
import { NODE_HTTP, WORKERD, peerSkip, peerUrl, throughputVs, type ScenarioContext } from './context.js';

export const SIEVE_N = 10_000;
/** π(10000) = 1229: every implementation must agree. */
const EXPECT = '"count":1229';

export const SIEVE_TARGETS = [
  { runtime: 'wasm', example: 'sieve' },
  { runtime: 'python', example: 'sieve-python' },
  { runtime: 'node', example: 'sieve-node' },
] as const;

export async function sieveScenario(ctx: ScenarioContext): Promise<LatencyScenario> {
  const { plan } = ctx;
  const get = (url: string) => ({ url, method: 'GET' as const, check: contains(EXPECT) });
  const targets: HttpTarget[] = [];
  const bare = peerUrl(ctx.peers.bare);
  if (bare !== null)
    targets.push({ target: NODE_HTTP, role: 'reference', runtime: null, load: get(`${bare}/sieve?n=${SIEVE_N}`) });
  const workerd = peerUrl(ctx.peers.workerd);
  if (workerd !== null)
    targets.push({ target: WORKERD, role: 'reference', runtime: null, load: get(`${workerd}/sieve?n=${SIEVE_N}`) });
  for (const t of SIEVE_TARGETS)
    targets.push({
      target: `tern ${t.runtime} (${t.example})`,
      role: 'tern',
      runtime: t.runtime,
      load: get(`${ctx.node.url}/fn/${t.example}?n=${SIEVE_N}`),
    });

  const { rows, skipped } = await compareTargets(ctx, 'sieve', targets);
  throughputVs(rows, [NODE_HTTP, WORKERD]);
  const peerSkips: Skipped[] = [...peerSkip(NODE_HTTP, ctx.peers.bare), ...peerSkip(WORKERD, ctx.peers.workerd)];
  return {
    id: 'sieve',
    title: `tinyFaaS sieve of Eratosthenes (n = ${SIEVE_N}), warm`,
    kind: 'latency',
    ratio: 'throughput',
    method: `autocannon, ${plan.connections} keep-alive connections, GET ?n=${SIEVE_N} (answer checked: 1229 primes); each target warmed up for ${plan.warmupMs / 1000} s, then measured for ${plan.durationMs / 1000} s in ${plan.rounds} interleaved round(s). References run the same sieve in JavaScript inline. Ratio: req/s ÷ the reference's req/s.`,
    skipped: [...peerSkips, ...skipped],
    rows,
  };
}
