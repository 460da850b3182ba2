/**
 * tinyFaaS's management service (OpenFogStack/tinyFaaS cmd/manager/main.go): POST /upload,
 * POST /uploadURL, POST /delete, GET /list, POST /wipe, GET /logs. Replies are plain text as
 * tinyFaaS writes them; errors carry a message and Tern's status instead of a bare 500.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { TernError } from '../../core/errors.js';
import type { CompatDeps } from '../compat.js';
import { parseGoJson } from '../shared/go-json.js';
import { deployStaged, removeFunction, type PackageArchive } from '../shared/staging.js';
import { DESCRIPTION_PREFIX, stageTinyfaasFunction } from './function-model.js';
import { downloadZip } from './download.js';

const upload = z.object({
  name: z.string().default(''),
  env: z.string().default(''),
  threads: z.number().default(0),
  zip: z.string().default(''),
  envs: z.array(z.string()).nullable().default([]),
});

const urlUpload = z.object({
  name: z.string().default(''),
  env: z.string().default(''),
  threads: z.number().default(0),
  url: z.string().default(''),
  subfolder_path: z.string().default(''),
  envs: z.array(z.string()).nullable().default([]),
});

const named = z.object({ name: z.string().default('') });

/** Log lines per function that /logs returns (the newest). */
const LOG_LINES = 1000;

function sendText(reply: FastifyReply, text: string): FastifyReply {
  return reply.code(200).type('text/plain; charset=utf-8').send(text);
}

function decodeZip(base64: string): PackageArchive {
  const text = base64.replace(/\s+/g, '');
  if (text === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(text))
    throw new TernError('bad_request', 'zip: the function code must be a base64-encoded zip archive');
  return { data: Buffer.from(text, 'base64'), type: 'zip' };
}

/** The port of the functions' own listener when management has another (tinyFaaS's layout). */
export type FunctionsEndpoint = () => number | undefined;

/** One URL per endpoint, as tinyFaaS's Upload() answers: "<protocol>://<host>:<port>/<name>". */
function endpointLines(request: FastifyRequest, deps: CompatDeps, name: string, functions?: FunctionsEndpoint): string {
  const triggers = deps.triggers?.() ?? {};
  const lines: string[] = [];
  const coap = triggers.coap;
  if (coap !== undefined) lines.push(`${coap.replace(/^udp:/, 'coap:')}/${name}`);
  const functionsPort = functions?.();
  lines.push(`http://${functionsPort === undefined ? request.host : `${request.hostname}:${functionsPort}`}/${name}`);
  if (triggers.grpc !== undefined) lines.push(`${triggers.grpc}/${name}`);
  return lines.map((l) => `${l}\n`).join('');
}

export function managementRoutes(app: FastifyInstance, deps: CompatDeps, functions?: FunctionsEndpoint): void {
  app.post('/upload', async (request, reply) => {
    const body = parseGoJson(request.body, upload, 'upload');
    const archive = decodeZip(body.zip);
    await deployStaged(
      deps,
      stageTinyfaasFunction({ name: body.name, env: body.env, threads: body.threads, envs: body.envs ?? [], archive }),
    );
    return sendText(reply, endpointLines(request, deps, body.name, functions));
  });

  app.post('/uploadURL', async (request, reply) => {
    const body = parseGoJson(request.body, urlUpload, 'uploadURL');
    // Checked before anything is downloaded.
    stageTinyfaasFunction({
      name: body.name,
      env: body.env,
      threads: body.threads,
      envs: [],
      archive: { data: Buffer.alloc(0), type: 'zip' },
    });
    const archive: PackageArchive = { data: await downloadZip(body.url, deps.limits.archiveBytes), type: 'zip' };
    await deployStaged(
      deps,
      stageTinyfaasFunction({
        name: body.name,
        env: body.env,
        threads: body.threads,
        envs: body.envs ?? [],
        archive,
        subfolder: body.subfolder_path,
      }),
    );
    return sendText(reply, endpointLines(request, deps, body.name, functions));
  });

  app.post('/delete', async (request, reply) => {
    const { name } = parseGoJson(request.body, named, 'delete');
    if (!(await removeFunction(deps, name))) throw new TernError('not_found', `function ${name} not found`);
    return sendText(reply, '');
  });

  app.get('/list', async (_request, reply) =>
    sendText(
      reply,
      deps.registry
        .list()
        .map((fn) => `${fn.spec.name}\n`)
        .join(''),
    ),
  );

  // Only what came in through this API: wipe-functions.sh must not take the node's other functions with it.
  app.post('/wipe', async (_request, reply) => {
    const ours = deps.registry.list().filter((fn) => fn.spec.description?.startsWith(DESCRIPTION_PREFIX) === true);
    for (const fn of ours) await removeFunction(deps, fn.spec.name);
    return sendText(reply, '');
  });

  app.get<{ Querystring: { name?: string } }>('/logs', async (request, reply) => {
    const name = request.query.name ?? '';
    if (name !== '' && !deps.registry.get(name)) throw new TernError('not_found', `function ${name} not found`);
    const names = name !== '' ? [name] : deps.registry.list().map((fn) => fn.spec.name);
    let text = '';
    for (const fn of names) {
      const lines = await deps.logs.read(fn, { tail: LOG_LINES });
      text += lines.map((l) => `${l.line}\n`).join('');
      // As tinyFaaS's Logs(): a blank line after each function's logs.
      if (name === '') text += '\n';
    }
    return sendText(reply, text);
  });
}
