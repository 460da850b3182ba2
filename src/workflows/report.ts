/** A workflow run's report: one entry per state run (each Task's execution report inside) and the total. */
import type { Report } from '../core/report.js';
import type { StateType } from './machine.js';

export interface StateReport {
  /** The state's name; nested states are named "Parallel.Branches[i] > Name" or "Map[i] > Name". */
  name: string;
  type: StateType;
  /** Milliseconds from the run's start to the state's entry, and the state's own time. */
  startMs: number;
  ms: number;
  /** replayed: completed before a restart of the node; its journaled output was used. */
  status: 'succeeded' | 'failed' | 'caught' | 'replayed';
  next?: string;
  error?: string;
  cause?: string;
  /** Task retries taken. */
  retries?: number;
  /** Task: the function and the execution report of its last call. */
  function?: string;
  call?: Report;
}

export interface RunReport {
  workflow: string;
  run: string;
  node: string;
  startedAt: string;
  /** Whole run, ms. */
  totalMs: number;
  /** Sum of the Task calls' own time (each call's totalMs), ms. */
  tasksMs: number;
  /** totalMs - tasksMs: what the workflow engine and the waits added. */
  overheadMs: number;
  /** Count of every state that ran (also those past the report's bound). */
  stateCount: number;
  states: StateReport[];
  /** States left out of `states` past the node's bound. */
  statesOmitted: number;
  error?: string;
  cause?: string;
  /** The run was resumed after a restart of the node. */
  resumed?: boolean;
}
