/**
 * Scenario 1: warm HTTP invocation of a hello function per runtime, against a bare node:http server
 * doing the same work inline (the physical limit) and Cloudflare's workerd serving it as a Worker.
 */
import type { LatencyScenario, Skipped } from '../lib/schema.js';
import { compareTargets, contains, type HttpTarget } from './compare.js';
import { NODE_HTTP, WORKERD, peerSkip, peerUrl, throughputVs, type ScenarioContext } from './context.js';

export interface HelloTarget {
  runtime: 'wasm' | 'python' | 'node' | 'binary';
  example: string;
  /** Text the function's answer contains. */
  expect: string;
}

export const HELLO_TARGETS: HelloTarget[] = [
  { runtime: 'wasm', example: 'hello', expect: 'Hello from wasm' },
  { runtime: 'python', example: 'hello-python', expect: 'Hello from python' },
  { runtime: 'node', example: 'hello-node', expect: 'Hello from node' },
  { runtime: 'binary', example: 'echo-binary', expect: 'body: bench' },
];

export const BODY = 'bench';

export async function warmHttp(ctx: ScenarioContext): Promise<LatencyScenario> {
  const { plan } = ctx;
  const post = (url: string, expect: string) => ({ url, method: 'POST' as const, body: BODY, check: contains(expect) });
  const targets: HttpTarget[] = [];
  const bare = peerUrl(ctx.peers.bare);
  if (bare !== null)
    targets.push({
      target: NODE_HTTP,
      role: 'reference',
      runtime: null,
      load: post(`${bare}/hello`, 'Hello from node:http'),
    });
  const workerd = peerUrl(ctx.peers.workerd);
  if (workerd !== null)
    targets.push({
      target: WORKERD,
      role: 'reference',
      runtime: null,
      load: post(`${workerd}/`, 'Hello from workerd'),
    });
  for (const t of HELLO_TARGETS)
    targets.push({
      target: `tern ${t.runtime} (${t.example})`,
      role: 'tern',
      runtime: t.runtime,
      load: post(`${ctx.node.url}/fn/${t.example}`, t.expect),
    });

  const { rows, skipped } = await compareTargets(ctx, 'warm-http', targets);
  throughputVs(rows, [NODE_HTTP, WORKERD]);
  const peerSkips: Skipped[] = [...peerSkip(NODE_HTTP, ctx.peers.bare), ...peerSkip(WORKERD, ctx.peers.workerd)];
  return {
    id: 'warm-http',
    title: 'Warm HTTP invocation of a hello function',
    kind: 'latency',
    ratio: 'throughput',
    method: `autocannon, ${plan.connections} keep-alive connections, POST "${BODY}"; each target warmed up for ${plan.warmupMs / 1000} s, then measured for ${plan.durationMs / 1000} s in ${plan.rounds} interleaved round(s) (every target once per round, so background load falls on all alike). Functions deployed as in examples/ (wasm: a fresh WebAssembly instance per call in a warm worker; python/node: warm sandboxed processes; binary: one CGI process per call). Ratio: req/s ÷ the reference's req/s.`,
    skipped: [...peerSkips, ...skipped],
    rows,
  };
}
