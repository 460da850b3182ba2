/**
 * A run's outcome as the node's Result (what /wf replies and the async call table records): the
 * output as JSON with status 200, or the error with 502 (504 for States.Timeout), and an execution
 * report that sums the Task calls and carries the whole run report under `workflow`.
 */
import { ERROR_STATUS } from '../core/errors.js';
import { ms, type Report } from '../core/report.js';
import type { Result } from '../core/result.js';
import { STATES_ERRORS, type StatesError } from './errors.js';
import type { RunOutcome } from './interpreter.js';
import type { Json } from './json.js';
import type { RunReport } from './report.js';

export interface WorkflowCallReport extends Report {
  workflow: RunReport;
}

export interface RunResult {
  id: string;
  ok: boolean;
  output?: Json;
  error?: StatesError;
  report: RunReport;
  result: Result & { report: WorkflowCallReport };
}

function callReport(run: RunReport, code: string | undefined): WorkflowCallReport {
  const calls = run.states.flatMap((s) => (s.call ? [s.call] : []));
  const sum = (pick: (r: Report) => number) => ms(calls.reduce((n, r) => n + pick(r), 0));
  return {
    node: run.node,
    function: run.workflow,
    instance: '',
    cold: calls.some((r) => r.cold),
    queueMs: sum((r) => r.queueMs),
    initMs: sum((r) => r.initMs),
    runMs: sum((r) => r.runMs),
    totalMs: run.totalMs,
    offloaded: calls.some((r) => r.offloaded),
    hops: [],
    ...(code !== undefined ? { error: code } : {}),
    workflow: run,
  };
}

export function runResult(id: string, outcome: RunOutcome): RunResult {
  if (outcome.ok) {
    return {
      id,
      ok: true,
      output: outcome.output,
      report: outcome.report,
      result: {
        status: 200,
        headers: { 'content-type': 'application/json', 'x-tern-run': id },
        body: Buffer.from(JSON.stringify(outcome.output) ?? 'null'),
        report: callReport(outcome.report, undefined),
      },
    };
  }
  const { error } = outcome;
  const code = error.error === STATES_ERRORS.Timeout ? 'timeout' : 'workflow_failed';
  const body = { error: { code, message: `${error.error}: ${error.cause}`, error: error.error, cause: error.cause } };
  return {
    id,
    ok: false,
    error,
    report: outcome.report,
    result: {
      status: ERROR_STATUS[code],
      headers: { 'content-type': 'application/json', 'x-tern-run': id },
      body: Buffer.from(JSON.stringify(body)),
      report: callReport(outcome.report, code),
    },
  };
}

/** The short report a sync reply carries in X-Tern-Report (the whole one is at /v1/workflows/{name}/runs/{id}). */
export function reportSummary(run: RunReport): Record<string, unknown> {
  return {
    workflow: run.workflow,
    run: run.run,
    node: run.node,
    totalMs: run.totalMs,
    tasksMs: run.tasksMs,
    overheadMs: run.overheadMs,
    states: run.stateCount,
    ...(run.error !== undefined ? { error: run.error } : {}),
  };
}
