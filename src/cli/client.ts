/** The CLI's HTTP client for the native API. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

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

/** The token: --token, TERN_TOKEN, else the local node's data folder ($TERN_DATA or ./.tern). */
function findToken(explicit: string | undefined): string | undefined {
  if (explicit) return explicit;
  if (process.env.TERN_TOKEN) return process.env.TERN_TOKEN;
  try {
    return readFileSync(join(resolve(process.env.TERN_DATA ?? '.tern'), 'token'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

export class Client {
  readonly base: string;
  private readonly token: string | undefined;

  constructor(opts: ClientOptions) {
    this.base = (opts.url ?? process.env.TERN_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
    this.token = findToken(opts.token);
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
