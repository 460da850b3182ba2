/**
 * Offloading, as Serverledge defines it: when this node cannot start or queue a call within its
 * limits, the function's policy decides where else it may run.
 *
 *   none         nowhere: the local refusal (429/503) stands
 *   edge         the least-loaded live edge node of this node's area
 *   cloud        the least-loaded live cloud node
 *   edge-cloud   edge neighbours first, then the cloud
 *
 * A call never loops: it carries its hop count and the nodes it has been on, is never sent back to
 * one of them, and stops at `maxHops`. Faults: a peer that refuses the call, or that could not be
 * reached at all, is passed over for the next candidate; a peer that fails after the call may have
 * reached it is retried elsewhere only for an idempotent function, otherwise the caller gets a clear
 * 503 — a call is never lost silently and never runs twice unless the function says that is safe.
 */
import type { Agent } from 'node:http';
import type { Logger } from 'pino';
import { TernError } from '../core/errors.js';
import type { Invocation } from '../core/invocation.js';
import { emptyReport, ms, type Hop } from '../core/report.js';
import { errorResult, type Result } from '../core/result.js';
import type { FunctionSpec, OffloadPolicy } from '../registry/spec.js';
import type { ClusterKeys } from './keys.js';
import { PeerError, peerRequest, type PeerResponse } from './peer-client.js';
import type { MemberRecord } from './records.js';
import { functionHeaders, NONCE_HEADER, signRequest, verifyResponse } from './request-auth.js';
import { decodeResult, encodeInvocation, INVOCATION_TYPE, RESULT_TYPE } from './wire.js';

export const INVOKE_ROUTE = '/v1/cluster/invoke';
/** Time a peer gets beyond the function's timeout and queue wait (a cold start, the network). */
export const FORWARD_MARGIN_MS = 5_000;
const CONNECT_TIMEOUT_MS = 2_000;
/** Bounds a forwarded call's answer (the function's response body plus its report). */
const MAX_RESULT_BYTES = 64 * 1024 * 1024;

/** Codes of a result that did not run anywhere: the call may go to another node. */
const NOT_RUN: ReadonlySet<string> = new Set(['queue_full', 'queue_timeout', 'no_capacity', 'not_found']);

export interface OffloaderOptions {
  nodeName: string;
  role: 'edge' | 'cloud';
  area: string;
  defaultPolicy: OffloadPolicy;
  maxHops: number;
  /** The peer's queue wait is not known here: this node's is the estimate. */
  queueWaitMs: number;
  /** Live members other than this node. */
  peers: () => MemberRecord[];
  spec: (fn: string) => FunctionSpec | undefined;
  keys: ClusterKeys;
  agent: Agent;
  logger: Logger;
}

type Attempt =
  | { kind: 'ran'; result: Result; ms: number }
  | { kind: 'not_run'; why: string }
  | { kind: 'failed'; why: string; ms: number };

export class Offloader {
  /** Nodes a forwarded call running here has already been on, by call id. */
  private readonly paths = new Map<string, readonly string[]>();
  /** Calls forwarded to each peer and not answered yet: load the peer has not reported yet. */
  private readonly inflight = new Map<string, number>();

  constructor(private readonly o: OffloaderOptions) {}

  /** While a forwarded call runs here, remember where it has been; returns the forget function. */
  track(callId: string, path: readonly string[]): () => void {
    this.paths.set(callId, path);
    return () => this.paths.delete(callId);
  }

  /** The scheduler's seam (SchedulerOptions.offloader). */
  readonly offload = async (inv: Invocation, reason: TernError): Promise<Result | undefined> => {
    const spec = this.o.spec(inv.function);
    if (!spec) return undefined;
    const policy = spec.offload ?? this.o.defaultPolicy;
    if (policy === 'none' || inv.hops >= this.o.maxHops) return undefined;
    const path = [...(this.paths.get(inv.id) ?? []), this.o.nodeName];
    const candidates = this.candidates(policy, new Set(path), inv.function);
    if (candidates.length === 0) return undefined;

    const skipped: string[] = [];
    for (const peer of candidates) {
      const attempt = await this.forward(peer, inv, spec, path);
      if (attempt.kind === 'ran') return this.withHop(attempt.result, inv, peer.name, attempt.ms);
      if (attempt.kind === 'not_run') {
        skipped.push(`${peer.name}: ${attempt.why}`);
        continue;
      }
      if (spec.idempotent) {
        this.o.logger.warn(
          { event: 'offload_retry', function: inv.function, call: inv.id, peer: peer.name, err: attempt.why },
          `peer ${peer.name} failed mid-call; retrying elsewhere (idempotent)`,
        );
        skipped.push(`${peer.name}: ${attempt.why}`);
        continue;
      }
      this.o.logger.warn(
        { event: 'offload_failed', function: inv.function, call: inv.id, peer: peer.name, err: attempt.why },
        `peer ${peer.name} failed mid-call; not retried`,
      );
      const report = {
        ...emptyReport(this.o.nodeName, inv.function),
        offloaded: true,
        hops: [{ node: peer.name, ms: ms(attempt.ms) }],
      };
      report.totalMs = ms(performance.now() - inv.receivedAt);
      const err = new TernError(
        'unavailable',
        `peer ${peer.name} failed mid-call (${attempt.why}); not retried because the function is not idempotent`,
      );
      return errorResult(err, report);
    }
    this.o.logger.debug(
      { event: 'offload_none', function: inv.function, call: inv.id, reason: reason.code, skipped },
      'no peer took the call',
    );
    return undefined;
  };

  /** Peers the policy allows, not on the call's path, least loaded first. */
  candidates(policy: OffloadPolicy, visited: ReadonlySet<string>, fn: string): MemberRecord[] {
    const live = this.o.peers().filter((p) => !visited.has(p.name));
    const byLoad = (list: MemberRecord[]) =>
      list
        .map((peer) => ({
          peer,
          score: peer.load.queued + peer.load.busy + (this.inflight.get(peer.name) ?? 0),
          warm: peer.warmFunctions.includes(fn),
        }))
        .sort(
          (a, b) =>
            a.score - b.score ||
            Number(b.warm) - Number(a.warm) ||
            b.peer.load.freeMemoryMiB - a.peer.load.freeMemoryMiB ||
            (a.peer.name < b.peer.name ? -1 : 1),
        )
        .map((x) => x.peer);
    const edge = byLoad(live.filter((p) => p.role === 'edge' && p.area === this.o.area));
    const cloud = byLoad(live.filter((p) => p.role === 'cloud'));
    if (policy === 'edge') return edge;
    if (policy === 'cloud') return cloud;
    return [...edge, ...cloud];
  }

  private async forward(peer: MemberRecord, inv: Invocation, spec: FunctionSpec, path: string[]): Promise<Attempt> {
    const started = performance.now();
    this.inflight.set(peer.name, (this.inflight.get(peer.name) ?? 0) + 1);
    try {
      // The caller's token of a private function stays here: the signed envelope vouches for the caller instead.
      const body = encodeInvocation({ ...inv, headers: functionHeaders(inv.headers, spec.private) });
      const target = `${INVOKE_ROUTE}/${encodeURIComponent(inv.function)}`;
      const signed = signRequest(this.o.keys, {
        method: 'POST',
        target,
        from: this.o.nodeName,
        to: peer.name,
        body,
        authenticated: spec.private,
        hops: inv.hops + 1,
        path: path.join(','),
      });
      const res = await peerRequest(this.o.agent, {
        url: `${peer.url}${target}`,
        method: 'POST',
        headers: { ...signed, 'content-type': INVOCATION_TYPE },
        body,
        timeoutMs: spec.timeoutMs + this.o.queueWaitMs + FORWARD_MARGIN_MS,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        maxBytes: MAX_RESULT_BYTES,
      });
      return this.outcome(peer, signed[NONCE_HEADER]!, res, performance.now() - started);
    } catch (e) {
      const elapsed = performance.now() - started;
      if (e instanceof PeerError && !e.sent) return { kind: 'not_run', why: `unreachable: ${e.message}` };
      return { kind: 'failed', why: (e as Error).message, ms: elapsed };
    } finally {
      const left = (this.inflight.get(peer.name) ?? 1) - 1;
      if (left > 0) this.inflight.set(peer.name, left);
      else this.inflight.delete(peer.name);
    }
  }

  /** What the peer's answer says: only a signed answer is believed (an unsigned one may hide a run). */
  private outcome(peer: MemberRecord, nonce: string, res: PeerResponse, elapsed: number): Attempt {
    if (!verifyResponse(this.o.keys, peer.name, nonce, res)) {
      const said = res.body.subarray(0, 300).toString('utf8');
      this.o.logger.warn(
        { event: 'offload_unsigned_answer', peer: peer.name, status: res.status, body: said },
        `peer ${peer.name} answered HTTP ${res.status} without a valid signature: ${said}`,
      );
      return { kind: 'failed', why: `HTTP ${res.status}, not signed by ${peer.name}`, ms: elapsed };
    }
    const type = String(res.headers['content-type'] ?? '');
    // Answered by the peer's HTTP layer (hop limit, loop, private function not vouched for): it did not run there.
    if (res.status !== 200 || !type.startsWith(RESULT_TYPE)) return { kind: 'not_run', why: `HTTP ${res.status}` };
    let result: Result;
    try {
      result = decodeResult(res.body);
    } catch (e) {
      return { kind: 'failed', why: (e as Error).message, ms: elapsed };
    }
    if (didNotRun(result)) return { kind: 'not_run', why: result.report.error ?? 'refused' };
    return { kind: 'ran', result, ms: elapsed };
  }

  /** The peer's report, seen from here: offloaded, this hop first, the time on this node. */
  private withHop(result: Result, inv: Invocation, peer: string, elapsed: number): Result {
    const hops: Hop[] = [{ node: peer, ms: ms(elapsed) }, ...result.report.hops];
    return {
      ...result,
      report: { ...result.report, offloaded: true, hops, totalMs: ms(performance.now() - inv.receivedAt) },
    };
  }
}

/** A result that says the call never started on that node (nor anywhere past it). */
export function didNotRun(result: Result): boolean {
  const code = result.report.error;
  if (code === undefined) return false;
  if (NOT_RUN.has(code)) return true;
  // A node shutting down or a function removed while queued: refused before any instance saw it.
  return code === 'unavailable' && !result.report.offloaded && result.report.instance === '';
}
