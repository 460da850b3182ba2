/**
 * What the cluster keeps in etcd, and the checks every value read back from it passes.
 *
 *   tern/nodes/<node>        MemberRecord, under the node's lease (gone when the node is)
 *   tern/functions/<name>    FunctionRecord: the deployed version and where its code is, or a tombstone
 *
 * etcd is shared and may hold anything: a value that does not parse is logged and skipped, never trusted.
 * Every record also carries a MAC made with the cluster's keys (signed-records.ts checks it): what
 * parses here is only well-formed, not yet trusted.
 */
import { z } from 'zod';
import { NAME_PATTERN } from '../registry/spec.js';
import { MAC_PATTERN } from './keys.js';

export const NODES_PREFIX = 'tern/nodes/';
export const FUNCTIONS_PREFIX = 'tern/functions/';

export const nodeKey = (name: string): string => `${NODES_PREFIX}${name}`;
export const functionKey = (name: string): string => `${FUNCTIONS_PREFIX}${name}`;

const mac = z.string().regex(MAC_PATTERN);

const memberSchema = z.object({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,63}$/),
  role: z.enum(['edge', 'cloud']),
  area: z.string().max(200),
  url: z.string().regex(/^https?:\/\//),
  load: z.object({
    freeMemoryMiB: z.number(),
    queued: z.number().int().min(0),
    warm: z.number().int().min(0),
    busy: z.number().int().min(0).default(0),
  }),
  /** Functions with a warm (idle or busy) instance here: a peer prefers a node that needs no cold start. */
  warmFunctions: z.array(z.string()).max(500).default([]),
  startedAt: z.string(),
});

const signedMemberSchema = memberSchema.extend({
  /** When the node signed this record (ms since the epoch): a copy replayed later goes stale. */
  signedAt: z.number().int().min(0),
  mac,
});

/** What a member says about itself. */
export type MemberRecord = z.output<typeof memberSchema>;
export type SignedMemberRecord = z.output<typeof signedMemberSchema>;

const version = z.string().regex(/^[0-9a-f]{16}$/);

const liveFunctionSchema = z.object({
  name: z.string().regex(NAME_PATTERN),
  deleted: z.literal(false).default(false),
  version,
  /** The node that deployed it; its URL is the first place to fetch the archive from. */
  source: z.string(),
  url: z.string().regex(/^https?:\/\//),
  archive: z.object({
    type: z.enum(['tar.gz', 'zip']),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    bytes: z.number().int().min(1),
  }),
  deployedAt: z.string(),
  /** One more than the record it replaced: an older record put back into etcd is stale. */
  seq: z.number().int().min(1),
  mac,
});

const tombstoneSchema = z.object({
  name: z.string().regex(NAME_PATTERN),
  deleted: z.literal(true),
  version,
  source: z.string(),
  deletedAt: z.string(),
  seq: z.number().int().min(1),
  mac,
});

export type LiveFunctionRecord = z.output<typeof liveFunctionSchema>;
export type TombstoneRecord = z.output<typeof tombstoneSchema>;
export type FunctionRecord = LiveFunctionRecord | TombstoneRecord;
/** A function record before it is signed. */
export type UnsignedFunctionRecord = Omit<LiveFunctionRecord, 'mac'> | Omit<TombstoneRecord, 'mac'>;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function parseMember(text: string): SignedMemberRecord | undefined {
  const r = signedMemberSchema.safeParse(parseJson(text));
  return r.success ? r.data : undefined;
}

export function parseFunctionRecord(text: string): FunctionRecord | undefined {
  const raw = parseJson(text);
  const dead = tombstoneSchema.safeParse(raw);
  if (dead.success) return dead.data;
  const live = liveFunctionSchema.safeParse(raw);
  return live.success ? live.data : undefined;
}
