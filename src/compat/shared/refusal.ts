/**
 * The headers of Tern's own refusal of a call that an adapter keeps when it answers in its system's
 * format: the token challenge of a private function (so a wrong token reads the same on every
 * adapter) and how long to wait after a full queue.
 */
import type { FastifyReply } from 'fastify';
import { headerText } from '../../core/headers.js';
import type { Result } from '../../core/result.js';

const KEPT = ['www-authenticate', 'retry-after'] as const;

export function keepRefusalHeaders(reply: FastifyReply, result: Result): void {
  for (const name of KEPT) {
    const value = headerText(result.headers, name);
    if (value !== undefined) void reply.header(name, value);
  }
}
