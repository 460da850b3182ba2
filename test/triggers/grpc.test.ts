/**
 * The gRPC trigger with a client generated (at run time, by proto-loader) from the same
 * proto/tinyfaas.proto a tinyFaaS client is built from.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { credentials, Metadata, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { createGrpcTrigger } from '../../src/triggers/grpc/index.js';
import {
  tinyFaasClient,
  tinyFaasService,
  type TinyFaasData,
  type TinyFaasResponse,
} from '../../src/triggers/grpc/proto.js';
import type { Trigger } from '../../src/triggers/trigger.js';
import { fakeContext, NODE_NAME, type Seen } from './fake-context.js';

interface Outcome {
  error: ServiceError | null;
  response: TinyFaasResponse | undefined;
  headers: Metadata | undefined;
}

type RequestMethod = (
  data: TinyFaasData,
  metadata: Metadata,
  options: { deadline: number },
  callback: (error: ServiceError | null, response?: TinyFaasResponse) => void,
) => { on(event: 'metadata', listener: (m: Metadata) => void): unknown };

function call(client: Client, data: TinyFaasData, metadata = new Metadata()): Promise<Outcome> {
  const method = (client as unknown as { Request: RequestMethod }).Request.bind(client);
  return new Promise((resolve) => {
    let headers: Metadata | undefined;
    const pending = method(data, metadata, { deadline: Date.now() + 20_000 }, (error, response) =>
      resolve({ error, response, headers }),
    );
    pending.on('metadata', (m) => (headers = m));
  });
}

describe('gRPC trigger (tinyFaaS service)', () => {
  const ctx = fakeContext();
  let trigger: Trigger;
  let client: Client;

  before(async () => {
    trigger = createGrpcTrigger({ port: 0, host: '127.0.0.1' });
    await trigger.start(ctx);
    const address = trigger.address() ?? '';
    assert.match(address, /^grpc:\/\/127\.0\.0\.1:\d+$/);
    const Ctor = tinyFaasClient();
    client = new Ctor(address.replace('grpc://', ''), credentials.createInsecure());
    ctx.deploy('name = "secret"\nruntime = "wasm"\nhandler = "secret.wasm"\nprivate = true\n');
  });
  after(async () => {
    client.close();
    await trigger.stop();
  });

  it("speaks tinyFaaS's wire format: method path and message encoding", () => {
    const method = tinyFaasService().Request;
    assert.equal(method?.path, '/openfogstack.tinyfaas.tinyfaas.TinyFaaS/Request');
    // field 1 (functionIdentifier) and field 2 (data), both length-delimited strings
    assert.deepEqual(
      [...method.requestSerialize({ functionIdentifier: 'a', data: 'b' })],
      [0x0a, 0x01, 0x61, 0x12, 0x01, 0x62],
    );
    assert.deepEqual([...method.responseSerialize({ response: 'c' })], [0x0a, 0x01, 0x63]);
  });

  it('Request runs the function with data as the body and returns its response', async () => {
    const { error, response } = await call(client, { functionIdentifier: 'echo', data: 'hello grpc' });
    assert.equal(error, null);
    assert.equal(response?.response, 'hello grpc');
    const inv = ctx.calls.at(-1);
    assert.deepEqual([inv?.function, inv?.method, inv?.path, inv?.trigger], ['echo', 'POST', '/', 'grpc']);
  });

  it('metadata reaches the function as headers; "name/path" passes a path', async () => {
    const metadata = new Metadata();
    metadata.set('x-sensor', 'kitchen');
    const { response } = await call(client, { functionIdentifier: 'info/temp', data: '21.5' }, metadata);
    const seen = JSON.parse(response?.response ?? '{}') as Seen;
    assert.equal(seen.headers['x-sensor'], 'kitchen');
    assert.equal(seen.path, '/temp');
    assert.equal(seen.body, '21.5');
    assert.equal(seen.headers['content-type'], undefined, 'gRPC transport headers stay out');
    assert.match(
      seen.headers['user-agent'] ?? '',
      /^grpc-node-js\//,
      "the client's user-agent is passed on, as tinyFaaS does",
    );
  });

  it('the execution report comes back in the x-tern-report metadata', async () => {
    const { error, headers } = await call(client, { functionIdentifier: 'echo', data: 'r' });
    assert.equal(error, null);
    const raw = headers?.get('x-tern-report')[0];
    assert.equal(typeof raw, 'string');
    const report = JSON.parse(String(raw)) as { node: string; function: string; instance: string };
    assert.deepEqual([report.node, report.function, report.instance], [NODE_NAME, 'echo', 'i-1']);
  });

  it('an unknown function is NOT_FOUND with the message, report included', async () => {
    const { error, headers } = await call(client, { functionIdentifier: 'nope', data: '' });
    assert.equal(error?.code, status.NOT_FOUND);
    assert.match(error?.details ?? '', /no function "nope"/);
    assert.match(String(headers?.get('x-tern-report')[0]), /"error":"not_found"/);
  });

  it('statuses map: 429 RESOURCE_EXHAUSTED (with retry-after), 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED, 400 INVALID_ARGUMENT, 502 UNKNOWN', async () => {
    const cases: [string, status][] = [
      ['429', status.RESOURCE_EXHAUSTED],
      ['503', status.UNAVAILABLE],
      ['504', status.DEADLINE_EXCEEDED],
      ['400', status.INVALID_ARGUMENT],
      ['401', status.UNAUTHENTICATED],
      ['502', status.UNKNOWN],
      ['500', status.INTERNAL],
    ];
    for (const [code, expected] of cases) {
      const { error } = await callStatus(code);
      assert.equal(error?.code, expected, `HTTP ${code}`);
    }
    const { error } = await callStatus('429', '3');
    assert.deepEqual(error?.metadata.get('retry-after'), ['3']);
    assert.equal(error?.details, 'function said 429');
  });

  it('private functions are UNAUTHENTICATED; an empty functionIdentifier is INVALID_ARGUMENT', async () => {
    const before = ctx.calls.length;
    const denied = await call(client, { functionIdentifier: 'secret', data: '' });
    assert.equal(denied.error?.code, status.UNAUTHENTICATED);
    const empty = await call(client, { functionIdentifier: '', data: 'x' });
    assert.equal(empty.error?.code, status.INVALID_ARGUMENT);
    assert.equal(ctx.calls.length, before);
  });

  it('a body over the limit is RESOURCE_EXHAUSTED', async () => {
    const { error } = await call(client, { functionIdentifier: 'echo', data: 'x'.repeat(ctx.maxBodyBytes + 1) });
    assert.equal(error?.code, status.RESOURCE_EXHAUSTED);
  });

  /** The fake "grpc-status" function answers with the status its body names: `code[,retry-after]`. */
  function callStatus(code: string, retryAfter?: string): Promise<Outcome> {
    return call(client, {
      functionIdentifier: 'grpc-status',
      data: retryAfter === undefined ? code : `${code},${retryAfter}`,
    });
  }
});
