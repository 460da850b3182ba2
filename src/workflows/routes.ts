/**
 * The workflow routes of the native API: management under /v1/workflows (token), runs at
 * /wf/{name} (sync) and /async/wf/{name} (async, its result at GET /v1/calls/{id}), both public:
 * whether the caller had the token passes on to the run's Task calls (private functions).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { TernError } from '../core/errors.js';
import { reportSummary } from './result.js';
import type { WorkflowService } from './service.js';
import type { DeployedWorkflow } from './store.js';

/** An ASL document is at most 1 MiB (as in AWS Step Functions). */
export const MAX_DEFINITION_BYTES = 1024 * 1024;

export interface WorkflowRouteDeps {
  workflows: WorkflowService;
}

export function describeWorkflow(wf: DeployedWorkflow): Record<string, unknown> {
  return {
    name: wf.name,
    version: wf.version,
    createdAt: wf.createdAt,
    updatedAt: wf.updatedAt,
    startAt: wf.machine.startAt,
    states: wf.stateCount,
    functions: wf.functions,
  };
}

const bodyOf = (request: FastifyRequest): Buffer => (Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0));

type Named = FastifyRequest<{ Params: { name: string } }>;

export function workflowRoutes(deps: WorkflowRouteDeps): (app: FastifyInstance) => void {
  const { workflows } = deps;
  return (app) => {
    app.get('/v1/workflows', async () => ({ workflows: workflows.list().map(describeWorkflow) }));

    app.put<{ Params: { name: string } }>(
      '/v1/workflows/:name',
      { bodyLimit: MAX_DEFINITION_BYTES },
      async (request, reply) => {
        const text = bodyOf(request).toString('utf8');
        if (text.trim() === '') throw new TernError('bad_request', 'the body must be the ASL document (JSON)');
        const { created, workflow } = await workflows.deploy(request.params.name, text);
        return reply
          .code(created ? 201 : 200)
          .send({ ...describeWorkflow(workflow), definition: JSON.parse(workflow.definition) as unknown });
      },
    );

    app.get<{ Params: { name: string } }>('/v1/workflows/:name', async (request) => {
      const wf = workflows.require(request.params.name);
      return { ...describeWorkflow(wf), definition: JSON.parse(wf.definition) as unknown };
    });

    app.delete<{ Params: { name: string } }>('/v1/workflows/:name', async (request, reply) => {
      if (!(await workflows.remove(request.params.name)))
        throw new TernError('not_found', `no workflow "${request.params.name}"`);
      return reply.code(204).send();
    });

    app.get<{ Params: { name: string } }>('/v1/workflows/:name/runs', async (request) => ({
      runs: workflows.runs(request.params.name).map(({ report, output: _output, ...rest }) => ({
        ...rest,
        ...(report ? { totalMs: report.totalMs, states: report.stateCount } : {}),
      })),
    }));

    app.get<{ Params: { name: string; id: string } }>('/v1/workflows/:name/runs/:id', async (request) => {
      const run = workflows.runOf(request.params.name, request.params.id);
      if (!run)
        throw new TernError('not_found', `no recent run "${request.params.id}" of workflow "${request.params.name}"`);
      return run;
    });

    const payloadLimit = Math.max(workflows.limits.maxPayloadBytes, 1024);
    const sync = async (request: Named, reply: FastifyReply) => {
      const input = workflows.parseInput(bodyOf(request));
      const run = await workflows.run(request.params.name, input, request.authenticated);
      const { result } = run;
      return reply
        .code(result.status)
        .headers({ ...result.headers, 'x-tern-report': JSON.stringify(reportSummary(run.report)) })
        .send(result.body);
    };
    app.post('/wf/:name', { bodyLimit: payloadLimit, config: { access: 'public' } }, sync);
    app.get('/wf/:name', { config: { access: 'public' } }, sync);

    app.post<{ Params: { name: string } }>(
      '/async/wf/:name',
      { bodyLimit: payloadLimit, config: { access: 'public' } },
      async (request, reply) => {
        const input = workflows.parseInput(bodyOf(request));
        const record = await workflows.submit(request.params.name, input, request.authenticated);
        return reply
          .code(202)
          .header('location', `/v1/calls/${record.id}`)
          .send({ id: record.id, workflow: record.function, state: record.state });
      },
    );
  };
}
