/**
 * Block-wise transfer state (RFC 7959), bounded. node-coap keys this state by token, but
 * clients such as libcoap send every block with a fresh token (and a Request-Tag), so Tern keys
 * it by peer + method + URI (+ Request-Tag for Block1) as RFC 7959 §2.4/§2.5 intend.
 */
import type { Option } from 'coap-packet';
import { BoundedLru } from './lru.js';
import { blockSize, type Block } from './wire.js';

/** Idle time after which a half-done transfer is dropped. */
const TRANSFER_IDLE_MS = 60_000;
const MAX_TRANSFERS = 1024;
const MIN_BUDGET_BYTES = 64 * 1024 * 1024;

interface Assembly {
  chunks: Buffer[];
  received: number;
}

export type Block1Outcome =
  | { kind: 'continue' }
  | { kind: 'complete'; body: Buffer }
  /** A block arrived out of order or its transfer was dropped: 4.08 Request Entity Incomplete. */
  | { kind: 'incomplete' }
  /** A non-final block of the wrong size: 4.00. */
  | { kind: 'malformed' }
  | { kind: 'too_large' };

/** Reassembles request bodies sent with Block1, in order, up to the node's body limit. */
export class Block1Assembler {
  private readonly transfers: BoundedLru<Assembly>;

  constructor(private readonly maxBodyBytes: number) {
    this.transfers = new BoundedLru<Assembly>({
      maxEntries: MAX_TRANSFERS,
      maxBytes: Math.max(MIN_BUDGET_BYTES, 2 * maxBodyBytes),
      ttlMs: TRANSFER_IDLE_MS,
      sizeOf: (a) => a.received,
      sliding: true,
    });
  }

  accept(key: string, block: Block, payload: Buffer): Block1Outcome {
    const size = blockSize(block.szx);
    if (block.more && payload.length !== size) return { kind: 'malformed' };
    const assembly: Assembly | undefined = block.num === 0 ? { chunks: [], received: 0 } : this.transfers.get(key);
    if (assembly === undefined || block.num * size !== assembly.received) {
      this.transfers.delete(key);
      return { kind: 'incomplete' };
    }
    if (assembly.received + payload.length > this.maxBodyBytes) {
      this.transfers.delete(key);
      return { kind: 'too_large' };
    }
    assembly.chunks.push(payload);
    assembly.received += payload.length;
    if (block.more) {
      this.transfers.set(key, assembly);
      return { kind: 'continue' };
    }
    this.transfers.delete(key);
    return { kind: 'complete', body: Buffer.concat(assembly.chunks, assembly.received) };
  }

  clear(): void {
    this.transfers.clear();
  }
}

/** A response too large for one datagram, kept while the client fetches its blocks. */
export interface StoredResponse {
  code: string;
  /** Options every block carries (Content-Format, ETag, Max-Age, ...). */
  options: Option[];
  body: Buffer;
}

export class Block2Store {
  private readonly responses: BoundedLru<StoredResponse>;

  constructor(maxBodyBytes: number) {
    this.responses = new BoundedLru<StoredResponse>({
      maxEntries: MAX_TRANSFERS,
      maxBytes: Math.max(MIN_BUDGET_BYTES, 2 * maxBodyBytes),
      ttlMs: TRANSFER_IDLE_MS,
      sizeOf: (r) => r.body.length,
      sliding: true,
    });
  }

  put(key: string, response: StoredResponse): void {
    this.responses.set(key, response);
  }

  get(key: string): StoredResponse | undefined {
    return this.responses.get(key);
  }

  delete(key: string): void {
    this.responses.delete(key);
  }

  clear(): void {
    this.responses.clear();
  }
}
