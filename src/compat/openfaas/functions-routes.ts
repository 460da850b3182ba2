/**
 * /system/functions (list, deploy, update, delete), /system/function/{name} and
 * /system/scale-function/{name}: the provider API faas-cli drives. Status codes as the gateway's
 * spec (openfaas/faas api-docs/spec.openapi.yml): deploy 202, update 200, delete 200, scale 202.
 */
import type { FastifyInstance } from 'fastify';
import type { DeployedFunction } from '../../registry/registry.js';
import type { OpenfaasContext } from './context.js';
import { checkFunctionName, checkSecrets, deployPlan } from './deploy.js';
import { httpError } from './http-errors.js';
import { resolveImage } from './image.js';
import { checkNamespace } from './namespace.js';
import { planDeployment, planRescale } from './plan.js';
import { decodeBody, deleteFunctionSchema, functionDeploymentSchema, scaleServiceSchema } from './requests.js';
import { functionStatus } from './status.js';

interface NamespaceQuery {
  namespace?: string;
}

export function functionRoutes(app: FastifyInstance, ctx: OpenfaasContext): void {
  const { registry, scheduler } = ctx.deps;
  const describe = async (fn: DeployedFunction) =>
    functionStatus(fn, scheduler.status(fn.spec.name), await ctx.meta.read(fn.dir));

  app.get<{ Querystring: NamespaceQuery }>('/system/functions', async (request) => {
    checkNamespace(request.query.namespace);
    return Promise.all(registry.list().map(describe));
  });

  app.post('/system/functions', async (request, reply) => {
    const req = decodeBody(request.body, functionDeploymentSchema);
    const namespace = checkNamespace(req.namespace);
    const name = checkFunctionName(req.service);
    checkSecrets(req.secrets);
    await ctx.lock.run(name, async () => {
      if (registry.get(name))
        throw httpError(400, `function ${name}.${namespace} already exists: update it with PUT /system/functions`);
      const source = await resolveImage(req.image, ctx.images);
      await deployPlan(ctx, name, await planDeployment(name, req, source));
    });
    return reply.code(202).send();
  });

  app.put('/system/functions', async (request, reply) => {
    const req = decodeBody(request.body, functionDeploymentSchema);
    const namespace = checkNamespace(req.namespace);
    const name = req.service;
    await ctx.lock.run(name, async () => {
      const current = registry.get(name);
      // faas-cli deploys with PUT first and falls back to POST on this 404.
      if (!current) throw httpError(404, `function: ${name}.${namespace} not found`);
      checkSecrets(req.secrets);
      const source = await resolveImage(req.image, ctx.images);
      const meta = await ctx.meta.read(current.dir);
      // A function first deployed another way was created when its current version was.
      const kept = {
        createdAt: meta?.createdAt ?? current.deployedAt,
        ...(meta?.replicas !== undefined ? { replicas: meta.replicas } : {}),
      };
      await deployPlan(ctx, name, await planDeployment(name, req, source, kept));
    });
    return reply.code(200).send();
  });

  app.delete('/system/functions', async (request, reply) => {
    const req = decodeBody(request.body, deleteFunctionSchema);
    const namespace = checkNamespace(req.namespace);
    const name = req.functionName;
    await ctx.lock.run(name, async () => {
      if (!registry.get(name) || !(await registry.remove(name)))
        throw httpError(404, `function ${name}.${namespace} not found`);
      await ctx.deps.settled?.(name);
    });
    return reply.code(200).send();
  });

  app.get<{ Params: { name: string }; Querystring: NamespaceQuery }>(
    '/system/function/:name',
    async (request, reply) => {
      checkNamespace(request.query.namespace);
      const fn = registry.get(request.params.name);
      // faasd answers an unknown function with a bare 404.
      if (!fn) return reply.code(404).send();
      return describe(fn);
    },
  );

  app.post<{ Params: { name: string } }>('/system/scale-function/:name', async (request, reply) => {
    const req = decodeBody(request.body, scaleServiceSchema);
    const namespace = checkNamespace(req.namespace);
    const name = req.serviceName || request.params.name;
    const replicas = req.replicas ?? 0;
    await ctx.lock.run(name, async () => {
      const fn = registry.get(name);
      if (!fn) throw httpError(404, `function: ${name}.${namespace} not found`);
      if (fn.spec.minInstances === replicas && fn.spec.maxInstances >= replicas) return;
      await deployPlan(ctx, name, await planRescale(fn, replicas, await ctx.meta.read(fn.dir)));
    });
    // Accepted: the new minimum of warm instances starts in the background.
    return reply.code(202).send();
  });
}
