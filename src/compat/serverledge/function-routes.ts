/**
 * Serverledge's function management (serverledge-faas/serverledge internal/api/api.go): POST /create,
 * POST /update, POST /delete, GET /function, POST /prewarm, GET /status. Every function on the node is listed and
 * invocable; /create adds one from Serverledge's Function JSON.
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parse as parseToml } from 'smol-toml';
import { z } from 'zod';
import { isTernError, TernError } from '../../core/errors.js';
import type { CompatDeps } from '../compat.js';
import { isServerledgeRuntime, SERVERLEDGE_RUNTIMES, stageServerledgeFunction } from './function-model.js';
import { parseGoJson } from '../shared/go-json.js';
import { sendJson, sendText } from './replies.js';
import { deployStaged, removeFunction } from '../shared/staging.js';

/**
 * function.Function. CPUDemand is accepted and not enforced (Tern limits memory, not CPU);
 * SupportedArchs and Signature (the typed inputs and outputs the CLI's --input/--output declare) are
 * accepted and not kept: Tern runs on the node's own architecture and does not type-check parameters.
 */
const functionBody = z.object({
  name: z.string().optional(),
  runtime: z.string().optional(),
  memorymb: z.number().optional(),
  cpudemand: z.number().optional(),
  maxconcurrency: z.number().optional(),
  handler: z.string().optional(),
  tarfunctioncode: z.string().optional(),
  customimage: z.string().optional(),
  supportedarchs: z.array(z.string()).nullable().optional(),
  signature: z.unknown().optional(),
});

const prewarmBody = z.object({
  function: z.string().optional(),
  instances: z.number().int().min(0).optional(),
  forceimagepull: z.boolean().optional(),
});

const RUNTIME_NAMES = Object.keys(SERVERLEDGE_RUNTIMES).join(', ');
/** Serverledge runtimes Tern knows and cannot run, and why (after "Invalid runtime."). */
const UNSUPPORTED_RUNTIMES: Record<string, string> = {
  custom: ` Tern runs no Serverledge container images: use one of ${RUNTIME_NAMES}`,
  go125: ` Tern builds no Go: use one of ${RUNTIME_NAMES}`,
};

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
      const why = UNSUPPORTED_RUNTIMES[runtime] ?? '';
      return sendJson(reply, 404, `Invalid runtime.${why}`);
    }
    creating.add(name);
    try {
      const staged = stageServerledgeFunction({
        name,
        runtime,
        ...(body.memorymb !== undefined ? { memoryMB: body.memorymb } : {}),
        ...(body.maxconcurrency !== undefined ? { maxConcurrency: body.maxconcurrency } : {}),
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

  statusRoute(app, deps);
}

/** GET /status: the node's capacity as Serverledge's StatusInformation. */
function statusRoute(app: FastifyInstance, deps: CompatDeps): void {
  app.get('/status', async (request, reply) => {
    const capacity = deps.scheduler.capacity();
    const warm: Record<string, number> = {};
    for (const fn of deps.registry.list()) {
      const idle = deps.scheduler.status(fn.spec.name)?.instances.idle ?? 0;
      if (idle > 0) warm[fn.spec.name] = idle;
    }
    const availableMiB = Math.max(0, Math.floor(capacity.memoryMiB - capacity.usedMiB));
    // registration.StatusInformation as Serverledge sends it now, after the older fields (Url,
    // AvailableMemMB, AvailableCPUs, DropCount) that earlier clients read. FreeMemory is what no
    // instance holds, busy or idle: Tern counts both in usedMiB, so it equals AvailableMemory.
    return sendJson(reply, 200, {
      Url: `http://${request.host}`,
      AvailableWarmContainers: warm,
      AvailableMemMB: availableMiB,
      AvailableCPUs: availableParallelism(),
      DropCount: 0,
      Coordinates: ORIGIN,
      TotalMemory: Math.floor(capacity.memoryMiB),
      AvailableMemory: availableMiB,
      FreeMemory: availableMiB,
      TotalCPU: availableParallelism(),
      UsedCPU: 0,
      LoadAvg: loadavg(),
      LastUpdateTime: Math.floor(Date.now() / 1000),
    });
  });
}
