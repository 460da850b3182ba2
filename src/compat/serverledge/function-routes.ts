/**
 * Serverledge's function management (grussorusso/serverledge internal/api/api.go): POST /create,
 * POST /update, POST /delete, GET /function, POST /prewarm, GET /status. Every function on the node is listed and
 * invocable; /create adds one from Serverledge's Function JSON.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { isTernError, TernError } from '../../core/errors.js';
import type { CompatDeps } from '../compat.js';
import { isServerledgeRuntime, stageServerledgeFunction } from './function-model.js';
import { parseGoJson } from './go-json.js';
import { sendJson, sendText } from './replies.js';
import { deployStaged, removeFunction } from '../shared/staging.js';

/** function.Function. CPUDemand is accepted and not enforced: Tern limits memory, not CPU. */
const functionBody = z.object({
  name: z.string().optional(),
  runtime: z.string().optional(),
  memorymb: z.number().optional(),
  cpudemand: z.number().optional(),
  handler: z.string().optional(),
  tarfunctioncode: z.string().optional(),
  customimage: z.string().optional(),
});

const prewarmBody = z.object({
  function: z.string().optional(),
  instances: z.number().int().min(0).optional(),
  forceimagepull: z.boolean().optional(),
});

/** A fresh Vivaldi coordinate (dimensionality 3, as Serverledge configures it): Tern keeps no network coordinates. */
const ORIGIN = { Vec: [0, 0, 0], Error: 1.5, Adjustment: 0, Height: 1e-5 };

export function functionRoutes(app: FastifyInstance, deps: CompatDeps): void {
  const creating = new Set<string>();

  // /update is /create that may replace an existing function (api.go CreateOrUpdateFunction).
  const createOrUpdate = (isUpdate: boolean) => async (request: FastifyRequest, reply: FastifyReply) => {
    const body = parseGoJson(request.body, functionBody, 'function');
    const name = body.name ?? '';
    if (name === '') throw new TernError('bad_request', 'Name: missing');
    if ((!isUpdate && deps.registry.get(name)) || creating.has(name)) return sendText(reply, 409, '');
    const runtime = body.runtime ?? '';
    if (!isServerledgeRuntime(runtime)) {
      const why = runtime === 'custom' ? ' Tern runs no container images: use python310, nodejs17 or nodejs17ng' : '';
      return sendJson(reply, 404, `Invalid runtime.${why}`);
    }
    creating.add(name);
    try {
      const staged = stageServerledgeFunction({
        name,
        runtime,
        ...(body.memorymb !== undefined ? { memoryMB: body.memorymb } : {}),
        ...(body.handler !== undefined ? { handler: body.handler } : {}),
        ...(body.tarfunctioncode !== undefined ? { tarFunctionCode: body.tarfunctioncode } : {}),
      });
      await deployStaged(deps, staged);
    } finally {
      creating.delete(name);
    }
    return sendJson(reply, 200, { Created: name });
  };
  app.post('/create', createOrUpdate(false));
  app.post('/update', createOrUpdate(true));

  app.post('/delete', async (request, reply) => {
    const body = parseGoJson(request.body, functionBody, 'function');
    const name = body.name ?? '';
    if (!deps.registry.get(name)) return sendText(reply, 404, 'Unknown function');
    await removeFunction(deps, name);
    return sendJson(reply, 200, { Deleted: name });
  });

  app.get('/function', async (_request, reply) =>
    sendJson(
      reply,
      200,
      deps.registry.list().map((fn) => fn.spec.name),
    ),
  );

  // Serverledge starts N instances now; Tern keeps N warm from now on (min-instances, capped by max-instances).
  app.post('/prewarm', async (request, reply) => {
    const body = parseGoJson(request.body, prewarmBody, 'prewarming request');
    const fn = deps.registry.get(body.function ?? '');
    if (!fn) return sendText(reply, 404, 'Function unknown');
    const wanted = Math.min(body.instances ?? 0, fn.spec.maxInstances);
    if (wanted <= fn.spec.minInstances) return sendJson(reply, 200, { Prewarmed: wanted });
    const toml = parseToml(await readFile(join(fn.dir, 'function.toml'), 'utf8'));
    try {
      await deployStaged(deps, { name: fn.spec.name, from: fn.dir, toml: { ...toml, 'min-instances': wanted } });
    } catch (e) {
      if (isTernError(e) && e.status < 500) throw e;
      return sendJson(reply, 503, '');
    }
    return sendJson(reply, 200, { Prewarmed: wanted });
  });

  app.get('/status', async (request, reply) => {
    const capacity = deps.scheduler.capacity();
    const warm: Record<string, number> = {};
    for (const fn of deps.registry.list()) {
      const idle = deps.scheduler.status(fn.spec.name)?.instances.idle ?? 0;
      if (idle > 0) warm[fn.spec.name] = idle;
    }
    return sendJson(reply, 200, {
      Url: `http://${request.host}`,
      AvailableWarmContainers: warm,
      AvailableMemMB: Math.max(0, Math.floor(capacity.memoryMiB - capacity.usedMiB)),
      AvailableCPUs: availableParallelism(),
      DropCount: 0,
      Coordinates: ORIGIN,
    });
  });
}
