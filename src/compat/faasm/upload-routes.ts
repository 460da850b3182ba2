/**
 * Faasm's upload server (faasm/faasm src/upload/UploadEndpointHandler.cpp, port 8002):
 * PUT /f/<user>/<function> a wasm module, PUT /p/<user>/<function> a python function,
 * GET /f/<user>/<function> the module back, GET /ping. State (/s/) and shared files (/file/)
 * are answered 501: this profile does not serve them.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { TernError } from '../../core/errors.js';
import type { CompatDeps } from '../compat.js';
import { deployStaged } from '../shared/staging.js';
import { checkOwner, description, ternName } from './names.js';
import { PYTHON_HANDLER, pythonFiles } from './python-kit.js';

const WASM_FILE = 'function.wasm';
const WASM_MAGIC = Buffer.from([0x00, 0x61, 0x73, 0x6d]);

type PairParams = { Params: { user: string; fn: string } };

export function sendText(reply: FastifyReply, status: number, text: string): FastifyReply {
  return reply.code(status).type('text/plain').send(text);
}

function bodyOf(body: unknown): Buffer {
  return Buffer.isBuffer(body) ? body : Buffer.alloc(0);
}

export function uploadRoutes(app: FastifyInstance, deps: CompatDeps): void {
  app.get('/ping', { config: { access: 'public' } }, async (_request, reply) => sendText(reply, 200, 'PONG'));

  app.put<PairParams>('/f/:user/:fn', async (request, reply) => {
    const { user, fn } = request.params;
    const name = ternName(user, fn);
    const wasm = bodyOf(request.body);
    if (wasm.length < 8 || !wasm.subarray(0, 4).equals(WASM_MAGIC))
      throw new TernError('bad_request', `${user}/${fn}: the body is not a WebAssembly module`);
    checkOwner(deps.registry.get(name), user, fn);
    await deployStaged(deps, {
      name,
      toml: { name, runtime: 'wasm', handler: WASM_FILE, description: description(user, fn, 'wasm') },
      files: { [WASM_FILE]: wasm },
    });
    return sendText(reply, 200, 'Function upload complete\n');
  });

  app.get<PairParams>('/f/:user/:fn', async (request, reply) => {
    const { user, fn } = request.params;
    const deployed = deps.registry.get(ternName(user, fn));
    if (!deployed || deployed.spec.runtime !== 'wasm')
      throw new TernError('not_found', `no wasm function ${user}/${fn}`);
    return reply
      .code(200)
      .type('application/wasm')
      .send(await readFile(join(deployed.dir, deployed.spec.handler)));
  });

  app.put<PairParams>('/p/:user/:fn', async (request, reply) => {
    const { user, fn } = request.params;
    const name = ternName(user, fn);
    const source = bodyOf(request.body);
    if (source.length === 0)
      throw new TernError('bad_request', `${user}/${fn}: the body is empty (expected the function's python source)`);
    checkOwner(deps.registry.get(name), user, fn);
    await deployStaged(deps, {
      name,
      toml: { name, runtime: 'python', handler: PYTHON_HANDLER, description: description(user, fn, 'python') },
      files: pythonFiles(source),
    });
    return sendText(reply, 200, 'Python function upload complete\n');
  });

  const notServed = async (_request: unknown, reply: FastifyReply) =>
    sendText(reply, 501, "Faasm's state and shared files are not served by Tern's Faasm profile\n");
  for (const url of ['/s/*', '/file', '/file/*'])
    app.route({ method: ['GET', 'PUT'], url, handler: notServed, config: { access: 'public' } });
}
