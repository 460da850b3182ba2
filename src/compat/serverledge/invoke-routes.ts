/**
 * POST /invoke/<fn> and GET /poll/<reqId> (grussorusso/serverledge internal/api/api.go):
 * the Params object is the function's JSON body, the reply is Serverledge's execution report.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { checkDuration, HOUR_MS } from '../../core/duration.js';
import { TernError } from '../../core/errors.js';
import { createInvocation, type Invocation } from '../../core/invocation.js';
import type { Result } from '../../core/result.js';
import type { CompatDeps } from '../compat.js';
import { parseGoJson } from '../shared/go-json.js';
import { failureOf, failureStatus, sendJson, sendText } from './replies.js';
import { serverledgeResponse } from './report.js';
import { pollResponse } from './workflow-routes.js';
import { keepRefusalHeaders } from '../shared/refusal.js';

/** client.InvocationRequest. QoSClass, QoSMaxRespT and CanDoOffloading are read and not acted on: Tern's scheduler decides. */
const invocationRequest = z.object({
  params: z.record(z.string(), z.unknown()).nullable().optional(),
  qosclass: z.number().int().optional(),
  qosmaxrespt: z.number().optional(),
  candooffloading: z.boolean().optional(),
  async: z.boolean().optional(),
  returnoutput: z.boolean().optional(),
});

/** QoSMaxRespT is in seconds. Go clients always send it: 0 (Go's zero value) and -1 (the CLI's default) mean "none". */
const MAX_RESPONSE_TIME = { minMs: 1, maxMs: 24 * HOUR_MS };
const NO_MAX_RESPONSE_TIME = new Set([0, -1]);

function checkMaxResponseTime(seconds: number | undefined): void {
  if (seconds === undefined || NO_MAX_RESPONSE_TIME.has(seconds)) return;
  const checked = checkDuration(seconds, MAX_RESPONSE_TIME);
  if (!checked.ok) throw new TernError('bad_request', `QoSMaxRespT: ${checked.message}, in seconds; 0 or -1 for none`);
}

/** Lines a call may print that ReturnOutput hands back (the newest of the function's log). */
const OUTPUT_LINES = 1000;

/** stdout, a newline, stderr: as the python310 executor's ReturnOutput joins them. */
async function callOutput(deps: CompatDeps, inv: Invocation): Promise<string> {
  const lines = await deps.logs.read(inv.function, { tail: OUTPUT_LINES });
  const of = (stream: 'stdout' | 'stderr') =>
    lines
      .filter((l) => l.call === inv.id && l.stream === stream)
      .map((l) => `${l.line}\n`)
      .join('');
  return `${of('stdout')}\n${of('stderr')}`;
}

const failed = (result: Result) => result.report.error !== undefined || result.status >= 400;

/** Go's GOARCH for Node's process.arch. */
const GO_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' };

/**
 * The headers Serverledge's load balancer reads from every invocation reply (api.go
 * setMetricsHeaders). Tern does not account CPU: the free CPUs are the machine's.
 */
function setNodeHeaders(reply: FastifyReply, deps: CompatDeps): void {
  const capacity = deps.scheduler.capacity();
  void reply.headers({
    'serverledge-node-name': deps.nodeName,
    'serverledge-free-mem': String(Math.max(0, Math.floor(capacity.memoryMiB - capacity.usedMiB))),
    'serverledge-timestamp': String(Math.floor(Date.now() / 1000)),
    'serverledge-free-cpu': availableParallelism().toFixed(6),
    'serverledge-node-arch': GO_ARCH[process.arch] ?? process.arch,
  });
}

export function invokeRoutes(app: FastifyInstance, deps: CompatDeps): void {
  const area = deps.area !== undefined ? { area: deps.area } : {};
  app.post<{ Params: { fun: string } }>(
    '/invoke/:fun',
    { bodyLimit: deps.limits.bodyBytes, config: { access: 'public' } },
    async (request, reply) => {
      const name = request.params.fun;
      const fn = deps.registry.get(name);
      if (!fn) return sendText(reply, 404, 'Function unknown');
      const req = parseGoJson(request.body, invocationRequest, 'invocation request');
      checkMaxResponseTime(req.qosmaxrespt);
      const inv = createInvocation({
        function: name,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify(req.params ?? {})),
        trigger: 'compat',
        authenticated: request.authenticated,
      });
      if (req.async === true) {
        const record = await deps.scheduler.submit(inv);
        setNodeHeaders(reply, deps);
        return sendJson(reply, 200, { ReqId: record.id });
      }
      const result = await deps.scheduler.invoke(inv);
      setNodeHeaders(reply, deps);
      if (failed(result)) {
        const failure = failureOf(result);
        keepRefusalHeaders(reply, result);
        return sendText(reply, failureStatus(failure.code), failure.message);
      }
      const output = req.returnoutput === true ? await callOutput(deps, inv) : '';
      return sendJson(
        reply,
        200,
        serverledgeResponse(true, result.report, { result: result.body.toString('utf8'), output, ...area }),
      );
    },
  );

  // Serverledge keeps a result only once the call is over: until then, like an unknown id, 404.
  app.get<{ Params: { reqId: string } }>('/poll/:reqId', { config: { access: 'public' } }, async (request, reply) => {
    const record = deps.scheduler.call(request.params.reqId, request.authenticated);
    if (!record || record.state === 'queued' || record.state === 'running') return sendText(reply, 404, '');
    // A workflow run's result is Serverledge's workflow InvocationResponse (async ids of both share /poll).
    if (record.kind === 'workflow') return sendJson(reply, 200, pollResponse(record));
    const body = record.result ? Buffer.from(record.result.body, 'base64').toString('utf8') : '';
    const success = record.state === 'done' && (record.result?.status ?? 500) < 400;
    return sendJson(reply, 200, serverledgeResponse(success, record.report, { result: success ? body : '', ...area }));
  });
}
