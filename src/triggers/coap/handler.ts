/**
 * The CoAP request handler: block-wise reassembly and slicing (RFC 7959), routing to a function,
 * and translation of the request and its Result. Holds no policy: the node's invoke decides.
 */
import { createHash } from 'node:crypto';
import type { Option } from 'coap-packet';
import type { Logger } from 'pino';
import { errorBody, type ErrorCode } from '../../core/errors.js';
import { createInvocation } from '../../core/invocation.js';
import type { Result } from '../../core/result.js';
import type { TriggerContext } from '../trigger.js';
import { type Block1Assembler, type Block2Store, type StoredResponse } from './blockwise.js';
import type { IncomingRequest, OutgoingResponse } from './message-layer.js';
import type { CoapRoutes } from './routes.js';
import { rawPath, rawQuery, requestHeaders, responseHead, uriPath } from './translate.js';
import {
  blockSize,
  decodeBlock,
  decodeUint,
  encodeBlock,
  encodeUint,
  firstOption,
  MAX_BLOCK_BYTES,
  MAX_SZX,
  methodOf,
  option,
  OPT,
  readOptions,
  unknownCriticalOption,
  type Block,
  type WireOption,
} from './wire.js';

const JSON_FORMAT = 50;

export interface HandlerDeps {
  ctx: TriggerContext;
  logger: Logger;
  routes: CoapRoutes;
  block1: Block1Assembler;
  block2: Block2Store;
}

function failure(code: string, errorCode: ErrorCode, message: string, extra: Option[] = []): OutgoingResponse {
  return {
    code,
    options: [option(OPT.contentFormat, encodeUint(JSON_FORMAT)), ...extra],
    payload: errorBody(errorCode, message),
  };
}

function etagOf(body: Buffer): Buffer {
  return createHash('sha1').update(body).digest().subarray(0, 8);
}

interface Slice {
  response: OutgoingResponse;
  /** More blocks follow this one. */
  more: boolean;
}

/** The block `block.num` of a stored response, with Block2 and Size2 set; undefined past the end. */
function sliceBlock(stored: StoredResponse, block: Block): Slice | undefined {
  const size = blockSize(block.szx);
  const start = block.num * size;
  if (start >= stored.body.length && start > 0) return undefined;
  const more = start + size < stored.body.length;
  const options = [
    ...stored.options,
    option(OPT.block2, encodeBlock({ num: block.num, more, szx: block.szx })),
    option(OPT.size2, encodeUint(stored.body.length)),
  ];
  return { response: { code: stored.code, options, payload: stored.body.subarray(start, start + size) }, more };
}

/** Send, and if the execution report made it too big for one datagram, send again without it. */
function respond(request: IncomingRequest, response: OutgoingResponse): void {
  try {
    request.respond(response);
  } catch {
    const options = response.options.filter((o) => o.name !== OPT.ternReport);
    try {
      request.respond({ ...response, options });
    } catch {
      request.respond({ code: '5.00', options: [], payload: Buffer.alloc(0) });
    }
  }
}

export function createRequestHandler(deps: HandlerDeps): (request: IncomingRequest) => void {
  return (request) => {
    handle(deps, request).then(
      (response) => respond(request, response),
      (err: unknown) => {
        deps.logger.error({ err }, 'coap: request failed');
        respond(request, failure('5.00', 'internal', 'internal error'));
      },
    );
  };
}

async function handle(deps: HandlerDeps, request: IncomingRequest): Promise<OutgoingResponse> {
  const { ctx } = deps;
  const { packet, peer } = request;
  const options = readOptions(packet);
  const critical = unknownCriticalOption(options);
  if (critical !== undefined) return failure('4.02', 'bad_request', `unsupported critical option ${critical}`);
  if (firstOption(options, OPT.proxyUri) !== undefined || firstOption(options, OPT.proxyScheme) !== undefined) {
    return { code: '5.05', options: [], payload: Buffer.alloc(0) };
  }
  const method = methodOf(packet.code);
  if (method === undefined)
    return failure('4.05', 'method_not_allowed', `request code ${packet.code} is not supported`);

  const segments = uriPath(options);
  const query = rawQuery(options);
  const transferKey = `${peer.address}|${peer.port}|${method}|${segments.join('/')}?${query}`;

  const collected = collectBody(deps, request, options, transferKey);
  if ('reply' in collected) return collected.reply;
  const { body, block1 } = collected;

  const wanted = wantedBlock(options);
  if ('code' in wanted) return wanted;
  const stored = wanted.num > 0 ? laterBlock(deps, transferKey, wanted, method) : undefined;
  if (stored !== undefined) return stored;

  const route = deps.routes.resolve(segments);
  if (route === undefined)
    return failure('4.04', 'not_found', 'no function named in the path (coap://host/NAME[/path])');
  if (ctx.registry.get(route.function)?.spec.private === true) {
    return failure(
      '4.01',
      'unauthorized',
      `function "${route.function}" is private; CoAP carries no token, call it over HTTP`,
    );
  }

  const invocation = createInvocation({
    function: route.function,
    method,
    path: rawPath(route.rest),
    query,
    headers: requestHeaders(options),
    body,
    trigger: 'coap',
  });
  const result: Result = await ctx.invoke(invocation);
  return shape(deps, result, method, options, transferKey, wanted, block1);
}

type CollectedBody = { body: Buffer; block1?: Block } | { reply: OutgoingResponse };

/** Block1: collect the request body first; only the last block reaches the function. */
function collectBody(
  deps: HandlerDeps,
  { packet }: IncomingRequest,
  options: WireOption[],
  transferKey: string,
): CollectedBody {
  const { maxBodyBytes } = deps.ctx;
  const tooLarge = failure('4.13', 'too_large', `request body over ${maxBodyBytes} bytes`, [
    option(OPT.size1, encodeUint(maxBodyBytes)),
  ]);
  const block1Option = firstOption(options, OPT.block1);
  if (block1Option === undefined) {
    return packet.payload.length > maxBodyBytes ? { reply: tooLarge } : { body: packet.payload };
  }
  const block1 = decodeBlock(block1Option);
  if (block1.szx > MAX_SZX)
    return { reply: failure('4.00', 'bad_request', 'Block1 size exponent 7 (BERT) is not supported over UDP') };
  const size1 = firstOption(options, OPT.size1);
  if (size1 !== undefined && decodeUint(size1) > maxBodyBytes) return { reply: tooLarge };
  const tag = firstOption(options, OPT.requestTag)?.toString('hex') ?? '';
  const outcome = deps.block1.accept(`${transferKey}#${tag}`, block1, packet.payload);
  switch (outcome.kind) {
    case 'continue':
      return { reply: { code: '2.31', options: [option(OPT.block1, encodeBlock(block1))], payload: Buffer.alloc(0) } };
    case 'incomplete':
      return {
        reply: failure('4.08', 'bad_request', `Block1 block ${block1.num} does not continue a transfer in progress`),
      };
    case 'malformed':
      return {
        reply: failure('4.00', 'bad_request', `Block1 block ${block1.num} is not ${blockSize(block1.szx)} bytes`),
      };
    case 'too_large':
      return { reply: tooLarge };
    case 'complete':
      return { body: outcome.body, block1 };
  }
}

/** The response block the client asks for (Block2), the first one when it names none. */
function wantedBlock(options: WireOption[]): Block | OutgoingResponse {
  const block2Option = firstOption(options, OPT.block2);
  const wanted: Block = block2Option !== undefined ? decodeBlock(block2Option) : { num: 0, more: false, szx: MAX_SZX };
  if (wanted.szx > MAX_SZX)
    return failure('4.00', 'bad_request', 'Block2 size exponent 7 (BERT) is not supported over UDP');
  return wanted;
}

/**
 * A later block of a response we already hold is served without invoking again; undefined when
 * a safe request may run again instead.
 */
function laterBlock(
  deps: HandlerDeps,
  transferKey: string,
  wanted: Block,
  method: string,
): OutgoingResponse | undefined {
  const stored = deps.block2.get(transferKey);
  if (stored !== undefined) {
    const slice = sliceBlock(stored, wanted);
    if (slice === undefined) return failure('4.02', 'bad_request', `Block2 block ${wanted.num} is past the end`);
    if (!slice.more) deps.block2.delete(transferKey);
    return slice.response;
  }
  // A GET is safe to repeat; anything else lost its response and must start over.
  if (method !== 'GET')
    return failure('4.08', 'bad_request', 'the response this block belongs to has expired; repeat the request');
  return undefined;
}

/** The response for a fresh Result: one datagram, or its first (wanted) block with the rest stored. */
function shape(
  deps: HandlerDeps,
  result: Result,
  method: string,
  options: WireOption[],
  transferKey: string,
  wanted: Block,
  block1: Block | undefined,
): OutgoingResponse {
  const head = responseHead(result, method, firstOption(options, OPT.ternReport) !== undefined);
  // RFC 7959 §2.3: the response to the last Block1 block echoes that block (only that response).
  const echo = block1 !== undefined ? [option(OPT.block1, encodeBlock({ ...block1, more: false }))] : [];
  const size = Math.min(blockSize(wanted.szx), MAX_BLOCK_BYTES);
  if (result.body.length <= size && wanted.num === 0 && firstOption(options, OPT.block2) === undefined) {
    return { code: head.code, options: [...head.options, ...echo], payload: result.body };
  }
  const stored: StoredResponse = {
    code: head.code,
    options: [...head.options, option(OPT.etag, etagOf(result.body))],
    body: result.body,
  };
  const slice = sliceBlock(stored, wanted);
  if (slice === undefined) return failure('4.02', 'bad_request', `Block2 block ${wanted.num} is past the end`);
  if (slice.more) deps.block2.put(transferKey, stored);
  return { ...slice.response, options: [...slice.response.options, ...echo] };
}
