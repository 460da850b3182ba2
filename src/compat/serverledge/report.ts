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
  /** Arrival to the start of execution (queueing and cold start), s: Serverledge counts both. */
  InitTime: number;
  OffloadLatency: number;
  /** Execution alone, s. */
  Duration: number;
  /** "O" when the call was offloaded, else "". */
  SchedAction: string;
  Output: string;
}

export interface ServerledgeResponse extends ExecutionReport {
  Success: boolean;
}

/** Whole microseconds, so the JSON carries no binary-fraction tails. */
const seconds = (ms: number) => Math.round(ms * 1000) / 1e6;

export function serverledgeResponse(
  success: boolean,
  result: string,
  report: Report | undefined,
  output = '',
): ServerledgeResponse {
  if (!report) {
    return {
      Success: success,
      Result: result,
      ResponseTime: 0,
      IsWarmStart: false,
      InitTime: 0,
      OffloadLatency: 0,
      Duration: 0,
      SchedAction: '',
      Output: output,
    };
  }
  const hopsMs = report.hops.reduce((sum, hop) => sum + hop.ms, 0);
  const initMs = report.queueMs + report.initMs;
  return {
    Success: success,
    Result: result,
    ResponseTime: seconds(report.totalMs),
    IsWarmStart: !report.cold,
    InitTime: seconds(initMs),
    // As Serverledge's Offload(): the forward's round trip less the remote init and run.
    OffloadLatency: report.offloaded ? seconds(Math.max(0, hopsMs - initMs - report.runMs)) : 0,
    Duration: seconds(report.runMs),
    SchedAction: report.offloaded ? 'O' : '',
    Output: output,
  };
}
