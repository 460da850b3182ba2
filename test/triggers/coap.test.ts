/**
 * The CoAP trigger against libcoap's coap-client (an independent implementation) and raw
 * datagrams, over 127.0.0.1 on a free UDP port.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import { createCoapTrigger } from '../../src/triggers/coap/index.js';
import type { Trigger } from '../../src/triggers/trigger.js';
import { coapClient, lastResponse, responses } from './coap-client.js';
import { fakeContext, NODE_NAME, type FakeContext, type Seen } from './fake-context.js';

function seen(payload: Buffer): Seen {
  return JSON.parse(payload.toString('utf8')) as Seen;
}

/** Text of n bytes that is not one byte repeated, so a misplaced block would show. */
function pattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = 0x41 + ((i * 7 + Math.floor(i / 26)) % 26);
  return b;
}

async function started(
  ctx: FakeContext,
  piggybackMs?: number,
): Promise<{ trigger: Trigger; base: string; port: number }> {
  const trigger = createCoapTrigger({
    port: 0,
    host: '127.0.0.1',
    ...(piggybackMs !== undefined ? { piggybackMs } : {}),
  });
  await trigger.start(ctx);
  const address = trigger.address() ?? '';
  assert.match(address, /^udp:\/\/127\.0\.0\.1:\d+$/);
  const port = Number(address.split(':').pop());
  return { trigger, base: `coap://127.0.0.1:${port}`, port };
}

/** A raw UDP peer: send datagrams, await parsed replies one by one. */
class RawPeer {
  private readonly socket: Socket = createSocket('udp4');
  private readonly queue: Buffer[] = [];
  private waiter: ((b: Buffer) => void) | undefined;

  constructor(private readonly port: number) {
    this.socket.on('message', (m) => {
      if (this.waiter) {
        const w = this.waiter;
        this.waiter = undefined;
        w(m);
      } else this.queue.push(m);
    });
  }

  async open(): Promise<void> {
    await new Promise<void>((resolve) => this.socket.bind(0, '127.0.0.1', resolve));
  }

  send(datagram: Buffer): void {
    this.socket.send(datagram, this.port, '127.0.0.1');
  }

  /** The next datagram; fails after a bound so a lost reply cannot hang the suite. */
  next(): Promise<Buffer> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no datagram within 20 s')), 20_000);
      this.waiter = (b) => {
        clearTimeout(timer);
        resolve(b);
      };
    });
  }

  close(): void {
    this.socket.close();
  }
}

function request(
  messageId: number,
  path: string[],
  extra: { confirmable?: boolean; options?: { name: number; value: Buffer }[]; payload?: Buffer } = {},
): Buffer {
  return generate({
    messageId,
    token: Buffer.from([0xbe, 0xef, messageId & 0xff]),
    code: '0.02',
    confirmable: extra.confirmable ?? true,
    options: [...path.map((p) => ({ name: 11, value: Buffer.from(p) })), ...(extra.options ?? [])],
    payload: extra.payload ?? Buffer.alloc(0),
  });
}

function option(packet: ParsedPacket, name: string): Buffer | undefined {
  return packet.options.find((o) => String(o.name) === name)?.value;
}

describe('CoAP trigger with coap-client', () => {
  const ctx = fakeContext();
  let trigger: Trigger;
  let base = '';

  before(async () => {
    ({ trigger, base } = await started(ctx));
    ctx.deploy('name = "sieve"\nruntime = "wasm"\nhandler = "info.wasm"\n[triggers]\ncoap = "primes/list"\n');
  });
  after(() => trigger.stop());

  it('GET reaches the function with method and path, 2.05 Content', async () => {
    const run = await coapClient([`${base}/info/a/b`]);
    assert.equal(lastResponse(run).code, '2.05');
    const s = seen(run.payload);
    assert.deepEqual([s.function, s.method, s.path, s.query], ['info', 'GET', '/a/b', '']);
    assert.equal(ctx.calls.at(-1)?.trigger, 'coap');
  });

  it('POST carries the payload', async () => {
    const run = await coapClient(['-m', 'post', '-e', 'hello coap', `${base}/echo`]);
    assert.equal(lastResponse(run).code, '2.05');
    assert.equal(run.payload.toString(), 'hello coap');
    assert.equal(ctx.calls.at(-1)?.method, 'POST');
  });

  it('PUT and DELETE: 204 becomes 2.04 Changed and 2.02 Deleted', async () => {
    const put = await coapClient(['-m', 'put', '-e', 'x', `${base}/status?status=204`]);
    assert.equal(lastResponse(put).code, '2.04');
    assert.equal(ctx.calls.at(-1)?.method, 'PUT');
    const del = await coapClient(['-m', 'delete', `${base}/status?status=204`]);
    assert.equal(lastResponse(del).code, '2.02');
    assert.equal(ctx.calls.at(-1)?.method, 'DELETE');
  });

  it('query options arrive joined with &', async () => {
    const run = await coapClient([`${base}/info?a=1&b=two&flag`]);
    assert.equal(seen(run.payload).query, 'a=1&b=two&flag');
  });

  it('an unknown function is 4.04 Not Found with the JSON error', async () => {
    const run = await coapClient([`${base}/nope`]);
    const response = lastResponse(run);
    assert.equal(response.code, '4.04');
    assert.match(response.options, /Content-Format:application\/json/);
    assert.match(run.stdout + run.stderr, /not_found/);
  });

  it('Content-Format maps to Content-Type and back', async () => {
    const json = await coapClient(['-m', 'post', '-t', '50', '-e', '{"a":1}', `${base}/echo`]);
    assert.match(lastResponse(json).options, /Content-Format:application\/json/);
    assert.equal(ctx.calls.at(-1)?.headers['content-type'], 'application/json');
    assert.equal(json.payload.toString(), '{"a":1}');
    const cbor = await coapClient(['-m', 'post', '-t', '60', '-e', '%a1%61%61%01', `${base}/echo`]);
    assert.equal(ctx.calls.at(-1)?.headers['content-type'], 'application/cbor');
    assert.match(lastResponse(cbor).options, /Content-Format:application\/cbor/);
    assert.deepEqual([...cbor.payload], [0xa1, 0x61, 0x61, 0x01]);
    const info = await coapClient(['-A', '41', `${base}/info`]);
    assert.equal(seen(info.payload).headers.accept, 'application/xml');
  });

  it('bodies over 1 kB travel block-wise both ways (Block1 and Block2)', async () => {
    const body = pattern(5000);
    const before = ctx.calls.length;
    const run = await coapClient(['-m', 'post', '-b', '256', '-t', '42', `${base}/echo`], body);
    assert.equal(lastResponse(run).code, '2.05');
    assert.ok(
      run.pdus.some((p) => p.options.includes('Block1:')),
      'request went block-wise',
    );
    assert.ok(responses(run).filter((p) => p.options.includes('Block2:')).length >= 5, 'response came block-wise');
    assert.equal(run.payload.length, body.length);
    assert.ok(run.payload.equals(body), 'echoed body intact');
    assert.equal(ctx.calls.length - before, 1, 'one invocation for the whole transfer');
    assert.equal(ctx.calls.at(-1)?.body.length, body.length);
  });

  it('a body over the limit is 4.13 Request Entity Too Large', async () => {
    const run = await coapClient(['-m', 'post', '-b', '1024', `${base}/echo`], pattern(ctx.maxBodyBytes + 100));
    assert.equal(lastResponse(run).code, '4.13');
  });

  it('non-confirmable requests get non-confirmable responses', async () => {
    const run = await coapClient(['-N', `${base}/info/non`]);
    const response = lastResponse(run);
    assert.equal(response.type, 'NON');
    assert.equal(response.code, '2.05');
    assert.equal(seen(run.payload).path, '/non');
  });

  it('extra paths from [triggers] coap route to their function, and follow the registry', async () => {
    const run = await coapClient([`${base}/primes/list/7`]);
    const s = seen(run.payload);
    assert.deepEqual([s.function, s.path], ['sieve', '/7']);
    const missing = await coapClient([`${base}/later/path`]);
    assert.equal(lastResponse(missing).code, '4.04');
    ctx.deploy('name = "late"\nruntime = "wasm"\nhandler = "info.wasm"\n[triggers]\ncoap = ["later/path", "other"]\n');
    const now = await coapClient([`${base}/later/path`]);
    assert.equal(seen(now.payload).function, 'late');
  });

  it('429 becomes 4.29 with Max-Age from Retry-After', async () => {
    const run = await coapClient([`${base}/status?status=429&retry-after=7`]);
    const response = lastResponse(run);
    assert.equal(response.code, '4.29');
    assert.match(response.options, /Max-Age:7/);
  });

  it('private functions are refused (CoAP carries no token)', async () => {
    ctx.deploy('name = "secret"\nruntime = "wasm"\nhandler = "secret.wasm"\nprivate = true\n');
    const before = ctx.calls.length;
    const run = await coapClient([`${base}/secret`]);
    assert.equal(lastResponse(run).code, '4.01');
    assert.equal(ctx.calls.length, before);
  });

  it('the execution report comes back in option 65000 when asked for', async () => {
    const run = await coapClient(['-O', '65000,', `${base}/info`]);
    const response = lastResponse(run);
    const hex = /65000:((?:\\x[0-9A-F]{2})+)/.exec(response.options)?.[1];
    assert.ok(hex, `report option in ${response.options}`);
    const report = JSON.parse(Buffer.from(hex.replaceAll('\\x', ''), 'hex').toString()) as {
      node: string;
      function: string;
    };
    assert.deepEqual([report.node, report.function], [NODE_NAME, 'info']);
  });
});

describe('CoAP trigger message layer', () => {
  it('a duplicate message id is not invoked twice; both copies get the same reply', async () => {
    const ctx = fakeContext();
    // A long piggyback window keeps the reply on the ACK however slow the machine is.
    const { trigger, port } = await started(ctx, 60_000);
    const peer = new RawPeer(port);
    try {
      await peer.open();
      const datagram = request(4242, ['echo'], { payload: Buffer.from('once') });
      peer.send(datagram);
      const first = await peer.next();
      peer.send(datagram);
      const second = await peer.next();
      assert.equal(ctx.calls.length, 1);
      assert.ok(first.equals(second), 'replayed reply is byte-identical');
      const reply = parse(first);
      assert.equal(reply.ack, true);
      assert.equal(reply.messageId, 4242);
      assert.equal(reply.code, '2.05');
      assert.equal(reply.payload.toString(), 'once');
      // A new message id is a new request.
      peer.send(request(4243, ['echo'], { payload: Buffer.from('twice') }));
      assert.equal(parse(await peer.next()).payload.toString(), 'twice');
      assert.equal(ctx.calls.length, 2);
    } finally {
      peer.close();
      await trigger.stop();
    }
  });

  it('a duplicate arriving while the function still runs is acknowledged, then answered once, separately', async () => {
    const ctx = fakeContext();
    // A long piggyback window: only the duplicate can make the trigger send the empty ACK.
    const { trigger, port } = await started(ctx, 60_000);
    const peer = new RawPeer(port);
    try {
      await peer.open();
      const datagram = request(777, ['gate']);
      peer.send(datagram);
      await ctx.gateReached;
      peer.send(datagram);
      const ack = parse(await peer.next());
      assert.deepEqual([ack.ack, ack.code, ack.messageId], [true, '0.00', 777]);
      ctx.openGate();
      const response = parse(await peer.next());
      assert.equal(response.confirmable, true);
      assert.equal(response.code, '2.05');
      assert.equal(response.payload.toString(), 'opened');
      assert.deepEqual([...response.token], [0xbe, 0xef, 777 & 0xff]);
      peer.send(generate({ messageId: response.messageId, code: '0.00', ack: true }));
      // Later duplicates get the empty ACK again, never a second invocation.
      peer.send(datagram);
      assert.deepEqual(parse(await peer.next()).code, '0.00');
      assert.equal(ctx.calls.length, 1);
    } finally {
      peer.close();
      await trigger.stop();
    }
  });

  it('separate responses (after an empty ACK) work with coap-client', async () => {
    const ctx = fakeContext();
    const { trigger, base } = await started(ctx, 0);
    try {
      const run = await coapClient(['-m', 'post', '-e', 'later', `${base}/echo`]);
      const response = lastResponse(run);
      assert.deepEqual([response.type, response.code], ['CON', '2.05']);
      assert.equal(run.payload.toString(), 'later');
    } finally {
      await trigger.stop();
    }
  });

  it('an unknown critical option is 4.02 Bad Option, a ping gets a Reset', async () => {
    const ctx = fakeContext();
    const { trigger, port } = await started(ctx, 60_000);
    const peer = new RawPeer(port);
    try {
      await peer.open();
      peer.send(request(1, ['echo'], { options: [{ name: 2049 + 2, value: Buffer.from('x') }] }));
      const reply = parse(await peer.next());
      assert.equal(reply.code, '4.02');
      peer.send(generate({ messageId: 2, code: '0.00', confirmable: true }));
      const reset = parse(await peer.next());
      assert.deepEqual([reset.reset, reset.messageId], [true, 2]);
      assert.equal(ctx.calls.length, 0);
      assert.equal(option(reply, 'Content-Format')?.[0], 50);
    } finally {
      peer.close();
      await trigger.stop();
    }
  });

  it('refuses to start on a port in use, and stops cleanly', async () => {
    const ctx = fakeContext();
    const first = await started(ctx);
    const second = createCoapTrigger({ port: first.port, host: '127.0.0.1' });
    try {
      // SO_REUSEADDR is off for UDP sockets Node creates, so the second bind fails.
      await assert.rejects(second.start(ctx), /cannot listen/);
    } finally {
      await first.trigger.stop();
    }
    assert.equal(first.trigger.address(), undefined);
  });
});
