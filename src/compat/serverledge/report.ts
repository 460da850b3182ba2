/**
 * Tern's execution report as Serverledge's (internal/function/request.go: Response and
 * ExecutionReport), field names and units (seconds) exactly as Serverledge sends them.
 */
import type { Report } from '../../core/report.js';

export interface ExecutionReport {
  Result: string;
  /** Arrival to completion, s. */
  ResponseTime: number;
  IsWarmStart: boolean;
  /** Starting the instance (cold start), s; 0 when warm. */
  InitTime: number;
  /** Waiting for an instance, s. */
  QueueingTime: number;
  OffloadLatency: number;
  /** Execution alone, s. */
  Duration: number;
  Output: string;
  /** The area of the node that ran the call ("" when another node ran it: Tern's report names the node, not its area). */
  ExecutionArea: string;
  /** The node that ran the call. */
  ExecutionNode: string;
  /** "O" when the call was offloaded, else "": older Serverledge releases sent it, and their clients read it. */
  SchedAction: string;
}

export interface ServerledgeResponse extends ExecutionReport {
  Success: boolean;
}

/** Whole microseconds, so the JSON carries no binary-fraction tails. */
export const seconds = (ms: number) => Math.round(ms * 1000) / 1e6;

export interface ReportContext {
  result?: string;
  output?: string;
  /** This node's area ([cluster] area). */
  area?: string;
}

export function executionReport(report: Report | undefined, ctx: ReportContext = {}): ExecutionReport {
  const base = { Result: ctx.result ?? '', Output: ctx.output ?? '' };
  if (!report) {
    return {
      ...base,
      ResponseTime: 0,
      IsWarmStart: false,
      InitTime: 0,
      QueueingTime: 0,
      OffloadLatency: 0,
      Duration: 0,
      ExecutionArea: '',
      ExecutionNode: '',
      SchedAction: '',
    };
  }
  const hopsMs = report.hops.reduce((sum, hop) => sum + hop.ms, 0);
  return {
    Result: base.Result,
    ResponseTime: seconds(report.totalMs),
    IsWarmStart: !report.cold,
    InitTime: seconds(report.initMs),
    QueueingTime: seconds(report.queueMs),
    // As Serverledge's Offload(): the forward's round trip less the remote wait, init and run.
    OffloadLatency: report.offloaded ? seconds(Math.max(0, hopsMs - report.queueMs - report.initMs - report.runMs)) : 0,
    Duration: seconds(report.runMs),
    Output: base.Output,
    ExecutionArea: report.offloaded ? '' : (ctx.area ?? ''),
    ExecutionNode: report.node,
    SchedAction: report.offloaded ? 'O' : '',
  };
}

export function serverledgeResponse(
  success: boolean,
  report: Report | undefined,
  ctx: ReportContext = {},
): ServerledgeResponse {
  return { Success: success, ...executionReport(report, ctx) };
}
