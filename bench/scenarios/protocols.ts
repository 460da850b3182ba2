/** Scenario 4: the wasm hello over CoAP and gRPC beside HTTP, driven by bench/protocols.ts. */
import { benchProtocols, type ProtocolStats } from '../protocols.js';
import { httpLoad } from '../lib/http-load.js';
import { log } from '../lib/log.js';
import type { LatencyScenario, Measurement, Skipped } from '../lib/schema.js';
import { ratio, type ScenarioContext } from './context.js';
import { contains, measurement } from './compare.js';
import { BODY } from './warm-http.js';

export const PROTOCOL_FUNCTION = 'hello';
const HTTP = 'tern http (hello)';

function row(target: string, s: ProtocolStats): Measurement {
  return {
    target,
    role: 'tern',
    runtime: 'wasm',
    medianMs: s.medianMs,
    p99Ms: s.p99Ms,
    rps: s.rps,
    requests: s.requests,
    errors: s.errors,
    vs: [],
    extra: {},
  };
}

export async function protocolsScenario(ctx: ScenarioContext): Promise<LatencyScenario> {
  const { plan, node } = ctx;
  const skipped: Skipped[] = [];
  const urls = { coap: node.coapUrl, grpc: node.grpcUrl, http: node.url };
  const options = { concurrency: plan.connections };
  log('protocols: warm-up');
  await benchProtocols(urls, PROTOCOL_FUNCTION, Math.max(plan.warmupMs / 3, 100), options);
  log('protocols: http, coap, grpc');
  const r = await benchProtocols(urls, PROTOCOL_FUNCTION, plan.durationMs, options);
  for (const [name, s] of Object.entries(r)) {
    if (s.requests === 0) skipped.push({ target: name, reason: `no request succeeded (${s.errors} errors)` });
  }
  // HTTP again with the suite's own autocannon wrapper: the same load, sub-millisecond latencies.
  log('protocols: http (sub-ms latencies)');
  const http = measurement(
    HTTP,
    'tern',
    'wasm',
    await httpLoad({
      url: `${node.url}/fn/${PROTOCOL_FUNCTION}`,
      method: 'POST',
      body: BODY,
      connections: plan.connections,
      durationMs: plan.durationMs,
      warmupMs: 0,
      check: contains('Hello from wasm'),
    }),
  );
  http.extra = { protocolsBenchRps: r.http.rps, protocolsBenchErrors: r.http.errors };
  const rows = [http, row('tern coap (hello)', r.coap), row('tern grpc (hello)', r.grpc)].filter((m) => m.requests > 0);
  for (const m of rows) if (m.target !== HTTP) m.vs = [{ reference: HTTP, ratio: ratio(m.rps, http.rps) }];
  return {
    id: 'protocols',
    title: 'CoAP and gRPC beside HTTP (wasm hello)',
    kind: 'latency',
    ratio: 'throughput',
    method: `bench/protocols.ts: each protocol alone for ${plan.durationMs / 1000} s with ${plan.connections} callers in flight — CoAP with node-coap confirmable POSTs, gRPC with @grpc/grpc-js on tinyFaaS's service; the HTTP row is the suite's autocannon run of the same shape (bench/protocols.ts's own HTTP req/s is in extra.protocolsBenchRps). Ratio: req/s ÷ HTTP's req/s.`,
    skipped,
    rows,
  };
}
