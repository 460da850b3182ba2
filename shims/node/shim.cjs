// Tern's node shim: loads the handler once, then serves calls framed on fd 3, several at a time.
// argv: FUNCTION_DIR HANDLER FUNCTION_NAME INSTANCE_ID CONCURRENCY
// console output travels as log frames tagged with the call id; fds 1 and 2 stay the process's
// own pipes (native code and child processes write there).
'use strict';
// CommonJS on purpose: an ES module entry point costs a few milliseconds of every cold start.
const { Socket } = require('node:net');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');
const { createDecoder, encodeHead, MAX_BODY } = require('./wire.cjs');
const { pickHandler } = require('./handler.cjs');

const [fnDir, handlerSpec, functionName, startedAs, concurrencyArg] = process.argv.slice(2);
// A sandbox started ahead of need learns the id of the instance it becomes ('instance' frame).
let instanceId = startedAs;
const concurrent = Number(concurrencyArg) > 1;
const MAX_LOG_FRAME = 1 << 16;

// Half-open: when the node closes its side (graceful stop), calls in flight may still answer.
const channel = new Socket({ fd: 3, readable: true, writable: true, allowHalfOpen: true });
let inflight = 0;
let ending = false;
function leaveWhenIdle() {
  if (ending && inflight === 0) channel.end(() => process.exit(0));
}

function send(header, body) {
  const data = body ?? EMPTY;
  if (data.length <= 16384) channel.write(Buffer.concat([encodeHead(header, data.length), data]));
  else {
    channel.write(encodeHead(header, data.length));
    channel.write(data);
  }
}
const EMPTY = Buffer.alloc(0);

// Which call is running: one global when calls run one at a time; AsyncLocalStorage (which costs
// promise hooks) only when they may overlap.
let current;
let storage;
if (concurrent) {
  const { AsyncLocalStorage } = require('node:async_hooks');
  storage = new AsyncLocalStorage();
}
const runningCall = () => (storage ? storage.getStore() : current);

function capture(stream, name) {
  stream.write = function write(chunk, encoding, callback) {
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    let data =
      typeof chunk === 'string'
        ? Buffer.from(chunk, encoding || 'utf8')
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const id = runningCall()?.wid;
    while (data.length > 0) {
      const header = id === undefined ? { t: 'log', s: name } : { t: 'log', s: name, id };
      send(header, data.subarray(0, MAX_LOG_FRAME));
      data = data.subarray(MAX_LOG_FRAME);
    }
    if (typeof callback === 'function') process.nextTick(callback);
    return true;
  };
}
capture(process.stdout, 'stdout');
capture(process.stderr, 'stderr');

// eslint-disable-next-line no-redeclare -- the shim's own request type, not the fetch global
class Request {
  constructor(header, body) {
    this.method = header.method ?? 'GET';
    this.path = header.path ?? '/';
    this.query = header.query ?? '';
    this.headers = header.headers ?? {};
    this.body = body;
    this._params = undefined;
  }
  /** The parsed query: first value of each name wins. */
  get params() {
    if (this._params === undefined) {
      const params = {};
      for (const [k, v] of new URLSearchParams(this.query)) if (!(k in params)) params[k] = v;
      this._params = params;
    }
    return this._params;
  }
  text() {
    return this.body.toString('utf8');
  }
  json() {
    return this.body.length ? JSON.parse(this.body.toString('utf8')) : undefined;
  }
}

let hostSeq = 0;
const hostWaiting = new Map();

function hostRequest(callId, op, args, body) {
  return new Promise((resolve, reject) => {
    const id = `h${++hostSeq}`;
    hostWaiting.set(id, { resolve, reject });
    send({ t: 'host', id, call: callId, op, args: args ?? {} }, toBuffer(body));
  });
}

function toBuffer(body) {
  if (body === undefined || body === null) return EMPTY;
  if (typeof body === 'string') return Buffer.from(body);
  if (Buffer.isBuffer(body)) return body;
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  return Buffer.from(JSON.stringify(body));
}

function chainedResponse(header, data) {
  return {
    status: header.status ?? 200,
    headers: header.headers ?? {},
    body: data,
    text: () => data.toString('utf8'),
    json: () => JSON.parse(data.toString('utf8')),
  };
}

/** ctx.state: the node's shared state (docs/state.md); every method returns a promise. */
function makeState(host) {
  const op = (name, key, args = {}, body) => host(`state.${name}`, { ...args, key }, body);
  const scope = (opts) => ({ global: Boolean(opts && opts.global) });
  return {
    /** The value (Buffer) or null; {offset, length} read part of it. */
    async get(key, opts = {}) {
      const args = {};
      if (opts.offset) args.offset = opts.offset;
      if (opts.length !== undefined) args.length = opts.length;
      const { header, body } = await op('get', key, args);
      return header.found ? body : null;
    },
    async size(key) {
      const { header } = await op('size', key);
      return header.found ? header.length : null;
    },
    async set(key, value) {
      return (await op('set', key, {}, toBuffer(value))).header.length;
    },
    async write(key, offset, value) {
      return (await op('write', key, { offset }, toBuffer(value))).header.length;
    },
    async append(key, value) {
      return (await op('append', key, {}, toBuffer(value))).header.length;
    },
    async delete(key) {
      return Boolean((await op('delete', key)).header.deleted);
    },
    /** Held by this call until unlock() or the call's end; {global: true} for the cluster-wide lock. */
    async lock(key, opts) {
      await op('lock', key, scope(opts));
    },
    async unlock(key, opts) {
      await op('unlock', key, scope(opts));
    },
    /** Run fn holding the lock. */
    async locked(key, fn, opts) {
      await this.lock(key, opts);
      try {
        return await fn();
      } finally {
        await this.unlock(key, opts);
      }
    },
    async push(key) {
      await op('push', key);
    },
    async pull(key) {
      return Boolean((await op('pull', key)).header.found);
    },
  };
}

function makeContext(callId) {
  const host = (op, args, body) => hostRequest(callId, op, args, body);
  const chainArgs = (fn, opts) => ({
    function: fn,
    method: opts.method ?? 'POST',
    path: opts.path ?? '/',
    headers: opts.headers ?? {},
  });
  const invoke = async (fn, body, opts = {}) => {
    const { header, body: data } = await host('invoke', chainArgs(fn, opts), body);
    return chainedResponse(header, data);
  };
  return {
    callId,
    function: functionName,
    instance: instanceId,
    host,
    invoke,
    /** A chained call: resolves with the child's response. */
    call: invoke,
    /** The same, started now and awaited later: `const p = ctx.callAsync(...); ...; await p`. */
    callAsync: invoke,
    state: makeState(host),
  };
}

const RESPONSE_KEYS = new Set(['status', 'headers', 'body']);

function isResponseObject(v) {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || !Number.isInteger(v.status)) return false;
  for (const k of Object.keys(v)) if (!RESPONSE_KEYS.has(k)) return false;
  return true;
}

function encodeBody(body, headers) {
  if (body === undefined || body === null) return EMPTY;
  if (typeof body === 'string') {
    headers['content-type'] ??= 'text/plain; charset=utf-8';
    return Buffer.from(body);
  }
  if (body instanceof Uint8Array || body instanceof ArrayBuffer) {
    headers['content-type'] ??= 'application/octet-stream';
    return toBuffer(body);
  }
  const json = JSON.stringify(body);
  if (json === undefined) throw new TypeError(`cannot send a ${typeof body} as a response body`);
  headers['content-type'] ??= 'application/json';
  return Buffer.from(json);
}

function lowerHeaders(h) {
  const out = {};
  if (h === undefined || h === null) return out;
  const entries = typeof h.entries === 'function' && !Array.isArray(h) ? h.entries() : Object.entries(h);
  for (const [k, v] of entries) out[String(k).toLowerCase()] = String(v);
  return out;
}

async function toResponse(value) {
  // A fetch Response (checked by name first: touching globalThis.Response loads undici).
  if (
    value !== null &&
    typeof value === 'object' &&
    value.constructor?.name === 'Response' &&
    value instanceof globalThis.Response
  ) {
    const headers = lowerHeaders(value.headers);
    return { status: value.status, headers, body: Buffer.from(await value.arrayBuffer()) };
  }
  let status = 200;
  let headers = {};
  let body = value;
  if (isResponseObject(value)) {
    status = value.status;
    headers = lowerHeaders(value.headers);
    body = value.body;
  }
  if (status < 100 || status > 599) throw new TypeError(`status must be an integer from 100 to 599, not ${status}`);
  return { status, headers, body: encodeBody(body, headers) };
}

function describe(err) {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return `thrown: ${String(err)}`;
}

async function serve(handler, header, body) {
  const call = { wid: header.id, callId: header.call };
  if (!storage) current = call;
  inflight++;
  try {
    const req = new Request(header, body);
    const value = await handler(req, makeContext(header.call));
    const res = await toResponse(value);
    if (res.body.length > MAX_BODY)
      throw new RangeError(`response body is ${res.body.length} bytes, more than ${MAX_BODY}`);
    send({ t: 'result', id: header.id, status: res.status, headers: res.headers }, res.body);
  } catch (err) {
    process.stderr.write(`${err instanceof Error && err.stack ? err.stack : describe(err)}\n`);
    send({ t: 'error', id: header.id, message: describe(err).slice(0, 4000) });
  } finally {
    if (current === call) current = undefined;
    inflight--;
    leaveWhenIdle();
  }
}

async function main() {
  const [file, name] = handlerSpec.split(':');
  let handler;
  try {
    process.chdir(fnDir);
    handler = pickHandler(await import(pathToFileURL(join(fnDir, file)).href), name);
  } catch (err) {
    process.stderr.write(`${err instanceof Error && err.stack ? err.stack : describe(err)}\n`);
    send({ t: 'init-error', message: describe(err).slice(0, 4000) });
    channel.end();
    process.exitCode = 1;
    return;
  }
  const decode = createDecoder((header, body) => {
    if (header.t === 'call') {
      if (storage) storage.run({ wid: header.id, callId: header.call }, () => void serve(handler, header, body));
      else void serve(handler, header, body);
    } else if (header.t === 'instance') {
      instanceId = String(header.id);
      process.env.TERN_INSTANCE = instanceId;
    } else if (header.t === 'host-result') {
      const waiting = hostWaiting.get(header.id);
      if (!waiting) return;
      hostWaiting.delete(header.id);
      if (header.error) waiting.reject(Object.assign(new Error(String(header.error)), { code: header.code }));
      else waiting.resolve({ header, body });
    }
  });
  channel.on('data', (chunk) => {
    try {
      decode(chunk);
    } catch (err) {
      process.stderr.write(`tern shim: bad frame from the node: ${describe(err)}\n`);
      process.exit(70);
    }
  });
  channel.on('end', () => {
    ending = true;
    leaveWhenIdle();
  });
  channel.on('error', () => process.exit(0));
  send({ t: 'ready', pid: process.pid, version: `node ${process.version}` });
}

void main();
