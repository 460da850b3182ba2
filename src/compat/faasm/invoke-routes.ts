/**
 * Faasm's invocation endpoint (faasm/faabric src/endpoint/FaabricEndpointHandler.cpp as of 2020,
 * port 8080; faasmcli posts to "/"): POST a JSON message {user, function, input_data, async,
 * python, py_user, py_func} to run a function, {status: true, id} to poll an async call.
 * Replies are plain text: the output and a newline; an async call's id; "RUNNING",
 * "SUCCESS: <output>" or "FAILED: <output>" for a status request.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { TernError } from '../../core/errors.js';
import { createInvocation } from '../../core/invocation.js';
import type { Result } from '../../core/result.js';
import type { CallRecord } from '../../scheduler/types.js';
import type { CompatDeps } from '../compat.js';
import { isFaasmCallId, newFaasmCallId, topLevelInteger } from './call-ids.js';
import { ternName } from './names.js';
import { sendText } from './upload-routes.js';
import { keepRefusalHeaders } from '../shared/refusal.js';

/** faabric's message JSON (src/util/json.cpp), the fields this profile reads. cmdline and MPI fields are accepted and not used. */
const message = z
  .object({
    user: z.string().default(''),
    function: z.string().default(''),
    input_data: z.string().default(''),
    async: z.boolean().default(false),
    python: z.boolean().default(false),
    py_user: z.string().default(''),
    py_func: z.string().default(''),
    status: z.boolean().default(false),
    exec_graph: z.boolean().default(false),
    flush: z.boolean().default(false),
    // Tern's ids exceed 2^53: the exact digits are read from the text (topLevelInteger).
    id: z.number().nonnegative().default(0),
  })
  .loose();

/** Room for the JSON around input_data. */
const MESSAGE_OVERHEAD_BYTES = 64 * 1024;

type Message = z.output<typeof message> & { idText: string };

function parseMessage(body: unknown): Message {
  const text = (body as Buffer).toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new TernError('bad_request', `the message is not JSON: ${(e as Error).message}`);
  }
  const parsed = message.safeParse(raw);
  if (!parsed.success)
    throw new TernError(
      'bad_request',
      `the message: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`,
    );
  return { ...parsed.data, idText: topLevelInteger(text, 'id') ?? String(parsed.data.id) };
}

/** The message of a failed call's error body, or the body as it is. */
function failureText(result: Result): string {
  try {
    const parsed = JSON.parse(result.body.toString('utf8')) as { error?: { message?: unknown } };
    if (typeof parsed.error?.message === 'string') return parsed.error.message;
  } catch {
    // Not Tern's error JSON: the function's own output.
  }
  return result.body.toString('utf8');
}

function statusLine(record: CallRecord): string {
  if (record.state === 'queued' || record.state === 'running') return 'RUNNING';
  const output = record.result ? Buffer.from(record.result.body, 'base64').toString('utf8') : '';
  if (record.state === 'done' && (record.result?.status ?? 500) < 400) return `SUCCESS: ${output}`;
  return `FAILED: ${record.error?.message ?? output}`;
}

export function invokeRoutes(app: FastifyInstance, deps: CompatDeps): void {
  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    if (body.length === 0) throw new TernError('bad_request', 'Empty request');
    const msg = parseMessage(body);

    if (msg.status) {
      const id = msg.idText;
      const record = isFaasmCallId(id) ? deps.scheduler.call(id, request.authenticated) : undefined;
      if (!record) return sendText(reply, 404, `FAILED: no call with id ${id}`);
      return sendText(reply, 200, statusLine(record));
    }
    // Flushing a Faasm worker drops its cached modules; Tern loads each version once and keeps it.
    if (msg.flush) return sendText(reply, 200, '');
    if (msg.exec_graph)
      throw new TernError('bad_request', "exec_graph requests are not served by Tern's Faasm profile");

    const name = msg.python ? ternName(msg.py_user, msg.py_func) : ternName(msg.user, msg.function);
    const fn = deps.registry.get(name);
    if (!fn)
      throw new TernError(
        'not_found',
        `no function ${msg.python ? `${msg.py_user}/${msg.py_func}` : `${msg.user}/${msg.function}`} (Tern function "${name}")`,
      );
    const input = Buffer.from(msg.input_data, 'utf8');
    if (input.length > deps.limits.bodyBytes)
      throw new TernError(
        'too_large',
        `input_data is ${input.length} bytes, over the limit of ${deps.limits.bodyBytes} bytes`,
      );
    const inv = createInvocation({
      function: name,
      method: 'POST',
      body: input,
      trigger: 'compat',
      authenticated: request.authenticated,
      ...(msg.async ? { id: newFaasmCallId() } : {}),
    });

    if (msg.async) {
      const record = await deps.scheduler.submit(inv);
      return sendText(reply, 200, record.id);
    }
    const result = await deps.scheduler.invoke(inv);
    void reply.header('x-tern-report', JSON.stringify(result.report));
    // Faasm has output only: a function's own status stays behind; Tern's failures keep theirs.
    if (result.report.error !== undefined) {
      keepRefusalHeaders(reply, result);
      return sendText(reply, result.status, `${failureText(result)}\n`);
    }
    return sendText(reply, 200, `${result.body.toString('utf8')}\n`);
  };

  const opts = { bodyLimit: deps.limits.bodyBytes + MESSAGE_OVERHEAD_BYTES, config: { access: 'public' as const } };
  app.post('/', opts, handler);
  app.post('/*', opts, handler);
}
