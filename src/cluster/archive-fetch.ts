/**
 * Fetch a function's archive from the nodes that may hold it: the deploying node first, then any
 * other member (every node that deployed a version keeps its archive). What arrives is checked
 * against the size and sha256 published in etcd, so a stale or tampered copy is never deployed.
 */
import type { Agent } from 'node:http';
import type { Logger } from 'pino';
import { TernError } from '../core/errors.js';
import { sha256 } from './archive-store.js';
import { peerRequest } from './peer-client.js';
import type { LiveFunctionRecord } from './records.js';
import type { ClusterSecret } from './secret.js';

export const ARCHIVE_ROUTE = '/v1/cluster/archive';
const FETCH_TIMEOUT_MS = 60_000;
const CONNECT_TIMEOUT_MS = 2_000;

export interface ArchiveFetchDeps {
  agent: Agent;
  secret: ClusterSecret;
  logger: Logger;
}

export async function fetchArchive(
  deps: ArchiveFetchDeps,
  record: LiveFunctionRecord,
  urls: string[],
): Promise<Buffer> {
  const tried: string[] = [];
  for (const base of [...new Set(urls)]) {
    const url = `${base}${ARCHIVE_ROUTE}/${encodeURIComponent(record.name)}?version=${record.version}`;
    try {
      const res = await peerRequest(deps.agent, {
        url,
        method: 'GET',
        headers: deps.secret.header(),
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
