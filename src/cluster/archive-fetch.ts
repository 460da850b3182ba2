/**
 * Fetch a function's archive from the nodes that may hold it: the deploying node first, then any
 * other member (every node that deployed a version keeps its archive). Each request is signed for
 * the node it goes to (request-auth.ts). What arrives is held in memory and checked against the
 * size and sha256 of the signed record before anything is written, so a stale or tampered copy is
 * refused and leaves nothing on disk.
 */
import type { Agent } from 'node:http';
import type { Logger } from 'pino';
import { TernError } from '../core/errors.js';
import { sha256 } from './archive-store.js';
import type { ClusterKeys } from './keys.js';
import { peerRequest } from './peer-client.js';
import type { LiveFunctionRecord } from './records.js';
import { signRequest } from './request-auth.js';

export const ARCHIVE_ROUTE = '/v1/cluster/archive';
const FETCH_TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 2_000;

export interface ArchiveFetchDeps {
  agent: Agent;
  keys: ClusterKeys;
  /** This node's name (the signed requests say who sends them). */
  nodeName: string;
  logger: Logger;
}

/** A node that may hold the archive. */
export interface ArchiveSource {
  name: string;
  url: string;
}

export async function fetchArchive(
  deps: ArchiveFetchDeps,
  record: LiveFunctionRecord,
  sources: ArchiveSource[],
): Promise<Buffer> {
  const tried: string[] = [];
  const seen = new Set<string>();
  for (const { name, url: base } of sources) {
    if (seen.has(base)) continue;
    seen.add(base);
    const target = `${ARCHIVE_ROUTE}/${encodeURIComponent(record.name)}?version=${record.version}`;
    try {
      const res = await peerRequest(deps.agent, {
        url: `${base}${target}`,
        method: 'GET',
        headers: signRequest(deps.keys, { method: 'GET', target, from: deps.nodeName, to: name }),
        timeoutMs: FETCH_TIMEOUT_MS,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        maxBytes: record.archive.bytes,
      });
      if (res.status !== 200) {
        tried.push(`${base}: ${res.status}`);
        continue;
      }
      if (res.body.length !== record.archive.bytes || sha256(res.body) !== record.archive.sha256) {
        tried.push(`${base}: content does not match the published sha256`);
        deps.logger.warn(
          { event: 'archive_digest_mismatch', function: record.name, version: record.version, peer: name, url: base },
          `refused the archive of ${record.name} ${record.version} from ${name}: not the size and sha256 its record names`,
        );
        continue;
      }
      return res.body;
    } catch (e) {
      tried.push(`${base}: ${(e as Error).message}`);
    }
  }
  deps.logger.debug(
    { event: 'archive_fetch_failed', function: record.name, version: record.version, tried },
    'archive fetch failed',
  );
  throw new TernError(
    'unavailable',
    `no node could serve version ${record.version} of "${record.name}" (${tried.join('; ') || 'no node to ask'})`,
  );
}
