// The node's native HTTP API (docs/api.md), same origin. The token lives in sessionStorage only.

const TOKEN_KEY = 'tern.token';

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** An error reply of the API: {"error": {"code", "message"}} with its HTTP status. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Called when the node refuses the token (401/403): the app sends the user back to login. */
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

async function errorFrom(res) {
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = await res.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(res.status, code, message);
}

function authHeaders(token = session.token) {
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** A management request; throws ApiError on an error status. `token` overrides the session's (login check). */
export async function request(method, path, { body, headers = {}, signal, token, quietAuth = false } = {}) {
  const res = await fetch(path, { method, body, signal, headers: { ...authHeaders(token), ...headers } });
  if (!res.ok) {
    const err = await errorFrom(res);
    if ((res.status === 401 || res.status === 403) && !quietAuth) onUnauthorized(err);
    throw err;
  }
  return res;
}

async function json(method, path, opts) {
  const res = await request(method, path, opts);
  return res.status === 204 ? undefined : res.json();
}

let callsRouteMissingUntil = 0;

export const api = {
  info: (opts) => json('GET', '/v1/info', opts),
  nodes: (opts) => json('GET', '/v1/nodes', opts),
  functions: (opts) => json('GET', '/v1/functions', opts).then((r) => r.functions),
  describe: (name, opts) => json('GET', `/v1/functions/${encodeURIComponent(name)}`, opts),
  remove: (name, opts) => json('DELETE', `/v1/functions/${encodeURIComponent(name)}`, opts),

  /** Deploy an archive File; the type comes from its name (.zip, else gzip). Resolves {created, fn}. */
  async deploy(name, file, opts = {}) {
    const type = /\.zip$/i.test(file.name) ? 'application/zip' : 'application/gzip';
    const res = await request('PUT', `/v1/functions/${encodeURIComponent(name)}`, {
      ...opts,
      body: file,
      headers: { 'content-type': type },
    });
    return { created: res.status === 201, fn: await res.json() };
  },

  /** Recent calls with reports; undefined when the node does not offer the route (asked again after a minute). */
  async calls(name, limit, opts = {}) {
    if (Date.now() < callsRouteMissingUntil) return undefined;
    try {
      const r = await json('GET', `/v1/calls?function=${encodeURIComponent(name)}&limit=${limit}`, opts);
      return Array.isArray(r?.calls) ? r.calls : undefined;
    } catch (e) {
      if (!(e instanceof ApiError && (e.status === 404 || e.status === 405))) throw e;
      callsRouteMissingUntil = Date.now() + 60_000;
      return undefined;
    }
  },

  metrics: (opts) => request('GET', '/metrics', opts).then((r) => r.text()),

  workflows: (opts) => json('GET', '/v1/workflows', opts).then((r) => r.workflows),
  workflow: (name, opts) => json('GET', `/v1/workflows/${encodeURIComponent(name)}`, opts),
  removeWorkflow: (name, opts) => json('DELETE', `/v1/workflows/${encodeURIComponent(name)}`, opts),
  workflowRuns: (name, opts) => json('GET', `/v1/workflows/${encodeURIComponent(name)}/runs`, opts).then((r) => r.runs),
  workflowRun: (name, id, opts) =>
    json('GET', `/v1/workflows/${encodeURIComponent(name)}/runs/${encodeURIComponent(id)}`, opts),

  /** Deploy an ASL document (text). Resolves {created, workflow}. */
  async deployWorkflow(name, text, opts = {}) {
    const res = await request('PUT', `/v1/workflows/${encodeURIComponent(name)}`, {
      ...opts,
      body: text,
      headers: { 'content-type': 'application/json' },
    });
    return { created: res.status === 201, workflow: await res.json() };
  },

  /** Run a workflow with the session's token (private functions run). Resolves {status, body, run}. */
  async runWorkflow(name, input, { signal } = {}) {
    const res = await fetch(`/wf/${encodeURIComponent(name)}`, {
      method: 'POST',
      headers: { ...authHeaders(), 'content-type': 'application/json' },
      body: input,
      signal,
    });
    return { status: res.status, body: await res.text(), run: res.headers.get('x-tern-run') ?? undefined };
  },

  /**
   * Call a function as any client would. Never throws on the function's status: resolves
   * {status, statusText, headers, body, report, ms}; network failures throw.
   */
  async invoke(name, { method, path, body, headers = {}, withToken, signal }) {
    const suffix = path && path !== '/' ? (path.startsWith('/') ? path : `/${path}`) : '';
    const started = performance.now();
    const res = await fetch(`/fn/${encodeURIComponent(name)}${suffix}`, {
      method,
      headers: { ...(withToken ? authHeaders() : {}), ...headers },
      body: method === 'GET' || method === 'HEAD' || body === '' ? undefined : body,
      signal,
    });
    const text = await res.text();
    const ms = performance.now() - started;
    let report;
    try {
      report = JSON.parse(res.headers.get('x-tern-report') ?? 'null') ?? undefined;
    } catch {
      report = undefined;
    }
    return {
      status: res.status,
      statusText: res.statusText,
      headers: [...res.headers.entries()],
      body: text,
      report,
      ms,
    };
  },

  /**
   * Follow a function's logs (NDJSON over a long-lived response), calling onLine for each entry.
   * `onOpen` runs once the node has answered. Resolves when the stream ends; rejects on error; stop it with `signal`.
   */
  async followLogs(name, { tail = 100, since, signal, onOpen, onLine }) {
    const query = new URLSearchParams({ follow: '1' });
    if (since) query.set('since', since);
    else query.set('tail', String(tail));
    const res = await request('GET', `/v1/functions/${encodeURIComponent(name)}/logs?${query}`, { signal });
    onOpen?.();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      pending += value;
      let nl;
      while ((nl = pending.indexOf('\n')) !== -1) {
        const text = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (!text) continue;
        try {
          onLine(JSON.parse(text));
        } catch (e) {
          console.warn('bad log line', text, e);
        }
      }
    }
  },
};
