/**
 * Serverledge's workflow API (serverledge-faas/serverledge internal/api/workflow.go and server.go,
 * request types in internal/client/types.go and internal/workflow/request.go) over Tern's
 * workflows: create from ASL (base64), import Serverledge's own workflow JSON, invoke sync or
 * async (the async result at GET /poll/{ReqId}), resume, delete, list. Reply shapes are
 * Serverledge's: {"Created": name}, InvocationResponse {Success, Result, Reports, ResponseTime,
 * SchedulingTime}, errors as JSON strings.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { isTernError, TernError } from '../../core/errors.js';
import type { Report } from '../../core/report.js';
import type { CallRecord } from '../../scheduler/types.js';
import type { Json } from '../../workflows/json.js';
import type { RunReport } from '../../workflows/report.js';
import type { WorkflowService } from '../../workflows/service.js';
import type { CompatDeps } from '../compat.js';
import { parseGoJson } from '../shared/go-json.js';
import { sendJson, sendText } from './replies.js';
import { serverledgeToAsl } from './workflow-import.js';

const creationRequest = z.object({
  name: z.string().optional(),
  aslsrc: z.string().optional(),
  overwriteifexists: z.boolean().optional(),
});

/** client.WorkflowInvocationRequest; QoS and CanDoOffloading are read and left to Tern's scheduler. */
const invocationRequest = z.object({
  params: z.record(z.string(), z.unknown()).nullable().optional(),
  qos: z.object({}).passthrough().nullable().optional(),
  candooffloading: z.boolean().optional(),
  async: z.boolean().optional(),
  reqid: z.string().optional(),
  plan: z.unknown().optional(),
});

const nameRequest = z.object({ name: z.string().optional() });

/** Whole microseconds, as the function report does. */
const seconds = (ms: number) => Math.round(ms * 1000) / 1e6;

/** function.ExecutionReport of one Task call. */
function executionReport(call: Report): Record<string, unknown> {
  return {
    Result: '',
    ResponseTime: seconds(call.totalMs),
    IsWarmStart: !call.cold,
    InitTime: seconds(call.initMs),
    QueueingTime: seconds(call.queueMs),
    OffloadLatency: 0,
    Duration: seconds(call.runMs),
    Output: '',
    ExecutionArea: '',
    ExecutionNode: call.node,
  };
}

/** InvocationResponse's Reports: one per Task state, keyed "Function_<state>" as Serverledge keys them. */
function reportsOf(run: RunReport | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of run?.states ?? []) if (s.call) out[`Function_${s.name}`] = executionReport(s.call);
  return out;
}

export function invocationResponse(
  success: boolean,
  result: Json | undefined,
  run: RunReport | undefined,
): Record<string, unknown> {
  return {
    Success: success,
    Result: success ? (result ?? null) : null,
    Reports: reportsOf(run),
    ResponseTime: run ? seconds(run.totalMs) : 0,
    SchedulingTime: 0,
  };
}

/** GET /poll/{id} for a workflow run's record. */
export function pollResponse(record: CallRecord): Record<string, unknown> {
  const run = (record.report as (Report & { workflow?: RunReport }) | undefined)?.workflow;
  const body = record.result ? Buffer.from(record.result.body, 'base64').toString('utf8') : '';
  const success = record.state === 'done';
  return invocationResponse(success, success && body ? (JSON.parse(body) as Json) : undefined, run);
}

function service(deps: CompatDeps): WorkflowService {
  if (!deps.workflows) throw new TernError('unavailable', 'workflows are not available on this node');
  return deps.workflows;
}

/** Deploys, answering as Serverledge: a bad definition is 400 with the reason as a JSON string. */
async function deploy(reply: FastifyReply, workflows: WorkflowService, name: string, asl: string, overwrite: boolean) {
  if (!overwrite && workflows.get(name)) return sendJson(reply, 409, 'workflow already exists');
  try {
    await workflows.deploy(name, asl);
  } catch (e) {
    if (isTernError(e) && e.status === 400) return sendJson(reply, 400, `ASL parsing failed: ${e.message}`);
    throw e;
  }
  return sendJson(reply, 200, { Created: name });
}

export function workflowRoutes(app: FastifyInstance, deps: CompatDeps): void {
  app.post('/workflow/create', async (request, reply) => {
    const body = parseGoJson(request.body, creationRequest, 'workflow creation request');
    const name = body.name ?? '';
    if (name === '') throw new TernError('bad_request', 'Name: missing');
    const src = (body.aslsrc ?? '').replace(/\s+/g, '');
    if (src === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(src))
      return sendJson(reply, 400, 'ASLSrc: the ASL document, base64-encoded');
    return deploy(
      reply,
      service(deps),
      name,
      Buffer.from(src, 'base64').toString('utf8'),
      body.overwriteifexists === true,
    );
  });

  app.post('/workflow/import', async (request, reply) => {
    // Serverledge's UnmarshalJSON looks its keys up exactly ("Name", "Start", "End", "Tasks").
    let raw: Json;
    try {
      raw = JSON.parse(Buffer.isBuffer(request.body) ? request.body.toString('utf8') : '') as Json;
    } catch (e) {
      throw new TernError('bad_request', `workflow: the body is not JSON (${(e as Error).message})`);
    }
    const { name, asl } = serverledgeToAsl(raw);
    return deploy(reply, service(deps), name, asl, false);
  });

  app.post('/workflow/delete', async (request, reply) => {
    const { name } = parseGoJson(request.body, nameRequest, 'workflow');
    if (!(await service(deps).remove(name ?? '')))
      return sendJson(reply, 404, 'the request function workflow to delete does not exist');
    return sendJson(reply, 200, { Deleted: name });
  });

  app.get('/workflow/list', async (_request, reply) =>
    sendJson(
      reply,
      200,
      service(deps)
        .list()
        .map((w) => w.name),
    ),
  );

  app.post<{ Params: { workflow: string } }>(
    '/workflow/invoke/:workflow',
    { config: { access: 'public' } },
    async (request, reply) => {
      const workflows = service(deps);
      const name = request.params.workflow;
      if (!workflows.get(name)) return sendJson(reply, 404, `function workflow '${name}' does not exist`);
      const body = parseGoJson(request.body, invocationRequest, 'workflow invocation request');
      const input = (body.params ?? {}) as Json;
      try {
        if (body.async === true) {
          const record = await workflows.submit(name, input, request.authenticated);
          return sendJson(reply, 200, { ReqId: record.id });
        }
        const run = await workflows.run(name, input, request.authenticated);
        if (!run.ok) return sendJson(reply, 500, `failed workflow execution: ${run.error!.error}: ${run.error!.cause}`);
        return sendJson(reply, 200, invocationResponse(true, run.output, run.report));
      } catch (e) {
        if (isTernError(e) && e.code === 'queue_full') return sendText(reply, 429, '');
        throw e;
      }
    },
  );

  resumeRoute(app, deps);
}

function resumeRoute(app: FastifyInstance, deps: CompatDeps): void {
  // Serverledge resumes a run another node began (offloading). Tern resumes its own runs after a
  // restart by itself; here a ReqId of a run on this node answers that run's outcome once it ends.
  app.post<{ Params: { workflow: string } }>(
    '/workflow/resume/:workflow',
    { config: { access: 'public' } },
    async (request, reply) => {
      const name = request.params.workflow;
      const workflows = service(deps);
      if (!workflows.get(name)) return sendJson(reply, 404, `function workflow '${name}' does not exist`);
      const { reqid } = parseGoJson(request.body, invocationRequest, 'workflow resume request');
      const id = reqid ?? '';
      const deadline = Date.now() + workflows.limits.maxRunMs;
      for (;;) {
        const record = deps.scheduler.call(id, request.authenticated);
        if (!record || record.kind !== 'workflow' || record.function !== name)
          return sendJson(reply, 404, `no run "${id}" of workflow '${name}' on this node`);
        if (record.state === 'done' || record.state === 'failed') {
          const response = pollResponse(record);
          return sendJson(
            reply,
            response.Success ? 200 : 500,
            response.Success ? response : `failed workflow execution: ${record.error?.message ?? ''}`,
          );
        }
        if (Date.now() > deadline) return sendJson(reply, 500, 'the run did not end in time');
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  );
}
