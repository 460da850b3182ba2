/** Every `tern` client command; `serve` and `new` live in their own files. */
import { readFile, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { packFolder } from '../registry/archive.js';
import { parseFunctionToml } from '../registry/spec.js';
import type { CallRecord } from '../core/status.js';
import { ApiError, Client, errorFrom, type ClientOptions } from './client.js';

interface FunctionDescription {
  name: string;
  version: string;
  deployedAt: string;
  spec: {
    runtime: string;
    memory: number;
    concurrentRequests: number;
    singleUse: boolean;
    minInstances: number;
    maxInstances: number;
  };
  status: {
    instances: { starting: number; idle: number; busy: number; total: number };
    queued: number;
    invocations: number;
  };
}

const out = (s: string): void => {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
};
const printJson = (v: unknown): void => out(JSON.stringify(v, null, 2));

export async function deploy(dir: string, opts: ClientOptions & { name?: string }): Promise<void> {
  const folder = resolve(dir);
  if (!(await stat(folder).catch(() => undefined))?.isDirectory()) throw new Error(`${dir}: not a folder`);
  const spec = parseFunctionToml(
    await readFile(resolve(folder, 'function.toml'), 'utf8').catch(() => {
      throw new Error(`${dir}: no function.toml`);
    }),
    basename(folder),
  );
  const name = opts.name ?? spec.name;
  const archive = await packFolder(folder);
  const client = new Client(opts);
  const res = await client.request('PUT', `/v1/functions/${encodeURIComponent(name)}`, {
    body: archive,
    headers: { 'content-type': 'application/gzip' },
  });
  const text = await res.text();
  if (!res.ok) throw errorFrom(res.status, text);
  const fn = JSON.parse(text) as FunctionDescription;
  out(`${res.status === 201 ? 'deployed' : 'updated'} ${fn.name} (${fn.spec.runtime}, version ${fn.version})`);
  out(`invoke: ${client.base}/fn/${fn.name}`);
}

export async function invoke(
  name: string,
  opts: ClientOptions & {
    data?: string;
    method?: string;
    path?: string;
    header?: string[];
    async?: boolean;
    report?: boolean;
  },
): Promise<void> {
  const client = new Client(opts);
  let body: Buffer | undefined;
  if (opts.data !== undefined)
    body = opts.data.startsWith('@') ? await readFile(opts.data.slice(1)) : Buffer.from(opts.data);
  const headers: Record<string, string> = {};
  for (const h of opts.header ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new Error(`--header "${h}": use "Name: value"`);
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  const method = (opts.method ?? (body ? 'POST' : 'GET')).toUpperCase();
  const sub = opts.path ? `/${opts.path.replace(/^\//, '')}` : '';
  const path = `${opts.async ? '/async' : ''}/fn/${encodeURIComponent(name)}${sub}`;
  const res = await client.request(method, path, { ...(body ? { body } : {}), headers, auth: 'when-asked' });
  const bytes = Buffer.from(await res.arrayBuffer());
  if (opts.async) {
    if (res.status !== 202) throw errorFrom(res.status, bytes.toString());
    const { id } = JSON.parse(bytes.toString()) as { id: string };
    out(id);
    return;
  }
  if (opts.report) process.stderr.write(`${res.headers.get('x-tern-report') ?? ''}\n`);
  if (!res.ok && isTernErrorBody(bytes)) throw errorFrom(res.status, bytes.toString());
  writeBody(bytes);
  // The function answered with an error status of its own: its body is printed, and the status said.
  if (!res.ok) throw new ApiError(res.status, 'function_status', `${name} answered with an error status`);
}

/** Tern's own error answers ({"error": {code, message}}), as opposed to a function's body. */
function isTernErrorBody(bytes: Buffer): boolean {
  try {
    const parsed = JSON.parse(bytes.toString()) as { error?: { code?: unknown; message?: unknown } } | null;
    return typeof parsed?.error?.code === 'string' && typeof parsed.error.message === 'string';
  } catch {
    return false;
  }
}

/** A function's body as it is; on a terminal, ended with a newline so the prompt starts on its own line. */
function writeBody(bytes: Buffer): void {
  process.stdout.write(bytes);
  if (process.stdout.isTTY && bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a) process.stdout.write('\n');
}

export async function poll(id: string, opts: ClientOptions & { wait?: boolean; json?: boolean }): Promise<void> {
  const client = new Client(opts);
  for (;;) {
    const record = await client.json<CallRecord>('GET', `/v1/calls/${encodeURIComponent(id)}`, { auth: 'when-asked' });
    if (!opts.wait || record.state === 'done' || record.state === 'failed') {
      if (opts.json) return printJson(record);
      return showCall(record);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** An async call for people: its state on stderr, the function's body decoded on stdout. */
function showCall(record: CallRecord): void {
  const status = record.result ? ` (HTTP ${record.result.status})` : '';
  process.stderr.write(`call ${record.id} of ${record.function}: ${record.state}${status}\n`);
  if (record.result) writeBody(Buffer.from(record.result.body, 'base64'));
  if (record.state === 'failed') {
    throw new ApiError(record.result?.status ?? 0, record.error?.code ?? 'failed', record.error?.message ?? 'failed');
  }
}

export async function list(opts: ClientOptions & { json?: boolean }): Promise<void> {
  const { functions } = await new Client(opts).json<{ functions: FunctionDescription[] }>('GET', '/v1/functions');
  if (opts.json) return printJson(functions);
  if (functions.length === 0) return out('no functions deployed');
  const rows = functions.map((f) => [
    f.name,
    f.spec.runtime,
    f.version,
    `${f.status.instances.idle}/${f.status.instances.busy}/${f.status.instances.starting}`,
    String(f.status.queued),
    String(f.status.invocations),
  ]);
  table([['NAME', 'RUNTIME', 'VERSION', 'IDLE/BUSY/STARTING', 'QUEUED', 'CALLS'], ...rows]);
}

export async function describe(name: string, opts: ClientOptions & { json?: boolean }): Promise<void> {
  const client = new Client(opts);
  const fn = await client.json<FunctionDescription>('GET', `/v1/functions/${encodeURIComponent(name)}`);
  if (opts.json) return printJson(fn);
  const { spec, status } = fn;
  const i = status.instances;
  const rows: [string, string][] = [
    ['name', fn.name],
    ['runtime', spec.runtime],
    ['version', fn.version],
    ['deployed', fn.deployedAt],
    ['url', `${client.base}/fn/${fn.name}`],
    ['memory', `${spec.memory} MiB`],
    ['concurrency', `${spec.concurrentRequests} per instance${spec.singleUse ? ', single use' : ''}`],
    [
      'instances',
      `${i.total} (min ${spec.minInstances}, max ${spec.maxInstances}): ${i.idle} idle, ${i.busy} busy, ${i.starting} starting`,
    ],
    ['queued', String(status.queued)],
    ['calls', String(status.invocations)],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) out(`${k.padEnd(width)}  ${v}`);
}

export async function remove(name: string, opts: ClientOptions): Promise<void> {
  await new Client(opts).json('DELETE', `/v1/functions/${encodeURIComponent(name)}`);
  out(`removed ${name}`);
}

export async function status(opts: ClientOptions): Promise<void> {
  const client = new Client(opts);
  const info = await client.json<{
    node: string;
    version: string;
    runtimes: { name: string; available: boolean; detail?: string }[];
    capacity: { memoryMiB: number; usedMiB: number };
    triggers?: Record<string, string | undefined>;
  }>('GET', '/v1/info');
  out(`node ${info.node} (tern ${info.version}) at ${client.base}`);
  out(`memory: ${info.capacity.usedMiB} of ${info.capacity.memoryMiB} MiB reserved`);
  for (const r of info.runtimes) {
    out(`runtime ${r.name.padEnd(8)} ${r.available ? 'yes' : 'no '} ${r.detail ?? ''}`);
  }
  for (const [k, v] of Object.entries(info.triggers ?? {})) {
    if (v) out(`trigger ${k.padEnd(8)} ${v}`);
  }
}

export async function logs(
  name: string,
  opts: ClientOptions & { follow?: boolean; tail?: string; since?: string },
): Promise<void> {
  const client = new Client(opts);
  const q = new URLSearchParams();
  if (opts.tail) q.set('tail', opts.tail);
  if (opts.since) q.set('since', opts.since);
  if (opts.follow) q.set('follow', '1');
  const res = await client.request('GET', `/v1/functions/${encodeURIComponent(name)}/logs?${q}`);
  if (!res.ok) throw errorFrom(res.status, await res.text());
  const show = (e: { time: string; instance: string; call?: string; stream: string; line: string }) =>
    out(`${e.time} ${e.instance}${e.call ? ` ${e.call}` : ''} ${e.stream === 'stderr' ? '!' : ' '} ${e.line}`);
  if (!opts.follow) {
    const { lines } = (await res.json()) as { lines: Parameters<typeof show>[0][] };
    lines.forEach(show);
    return;
  }
  let buffered = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffered += Buffer.from(chunk).toString();
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (line.trim()) show(JSON.parse(line));
    }
  }
}

function table(rows: string[][]): void {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    out(
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
}
