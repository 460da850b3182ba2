/** The CLI's HTTP client for the native API. */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PROJECT_ROOT } from '../version.js';

export interface ClientOptions {
  url?: string;
  token?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface FoundToken {
  token: string;
  /** Where it came from, for messages: "--token", "TERN_TOKEN" or a file. */
  source: string;
}

/**
 * The token files the CLI reads, first found wins: $TERN_DATA/token, else `.tern/token` in the
 * current folder or the nearest folder above it that has one (a node started with the default
 * data folder, `make run` in a checkout), else the checkout's own (bin/tern run from elsewhere).
 */
export function tokenFiles(cwd = process.cwd()): string[] {
  if (process.env.TERN_DATA) return [join(resolve(cwd, process.env.TERN_DATA), 'token')];
  const files: string[] = [];
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    files.push(join(dir, '.tern', 'token'));
    if (dirname(dir) === dir) break;
  }
  const checkout = join(PROJECT_ROOT, '.tern', 'token');
  return files.includes(checkout) ? files : [...files, checkout];
}

/** The token: --token, TERN_TOKEN, else the first token file that exists. */
export function findToken(explicit: string | undefined): FoundToken | undefined {
  if (explicit) return { token: explicit, source: process.env.TERN_TOKEN === explicit ? 'TERN_TOKEN' : '--token' };
  if (process.env.TERN_TOKEN) return { token: process.env.TERN_TOKEN, source: 'TERN_TOKEN' };
  for (const file of tokenFiles()) {
    try {
      const token = readFileSync(file, 'utf8').trim();
      if (token) return { token, source: file };
    } catch {
      // not there: the next one
    }
  }
  return undefined;
}

/** What to tell someone whose call was refused with 401. */
export function tokenHelp(): string {
  const found = findToken(undefined);
  const given = found ? `the token from ${found.source} was refused` : 'no token found';
  return (
    `${given}; give the node's management token with --token <token> or TERN_TOKEN=<token>, ` +
    `or run where the CLI finds the node's token file (${tokenFiles()[0]}; \`tern serve\` prints where it is)`
  );
}

export class Client {
  readonly base: string;
  private readonly token: string | undefined;

  constructor(opts: ClientOptions) {
    this.base = (opts.url ?? process.env.TERN_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
    this.token = findToken(opts.token)?.token;
  }

  /**
   * `auth`: 'always' sends the token (management routes); 'when-asked' sends it only after a 401
   * (invocations and call records: a public function never sees the node token, and a 401 from
   * a private one means nothing ran, so asking again is safe).
   */
  async request(
    method: string,
    path: string,
    init: { body?: Buffer | string; headers?: Record<string, string>; auth?: 'always' | 'when-asked' } = {},
  ): Promise<Response> {
    if (init.auth !== 'when-asked') return this.send(method, path, init, true);
    const first = await this.send(method, path, init, false);
    if (first.status !== 401 || this.token === undefined) return first;
    await first.arrayBuffer();
    return this.send(method, path, init, true);
  }

  private async send(
    method: string,
    path: string,
    init: { body?: Buffer | string; headers?: Record<string, string> },
    withToken: boolean,
  ): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (withToken && this.token) headers.authorization = `Bearer ${this.token}`;
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers,
        ...(init.body !== undefined ? { body: init.body } : {}),
      });
    } catch (e) {
      throw new ApiError(
        0,
        'unreachable',
        `cannot reach ${this.base}: ${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}`,
      );
    }
    return res;
  }

  /** A JSON call that throws ApiError on any non-2xx reply. */
  async json<T>(
    method: string,
    path: string,
    init: { body?: Buffer | string; headers?: Record<string, string>; auth?: 'always' | 'when-asked' } = {},
  ): Promise<T> {
    const res = await this.request(method, path, init);
    const text = await res.text();
    if (!res.ok) throw errorFrom(res.status, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

export function errorFrom(status: number, text: string): ApiError {
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (parsed.error?.message) return new ApiError(status, parsed.error.code ?? 'error', parsed.error.message);
  } catch {
    // not JSON: fall through to the raw text
  }
  return new ApiError(status, 'error', text || `HTTP ${status}`);
}
