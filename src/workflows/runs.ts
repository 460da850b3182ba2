/** The last runs of each workflow (sync and async), newest first, for the API and the dashboard. */
import type { Json } from './json.js';
import type { RunReport } from './report.js';

export interface RunView {
  id: string;
  workflow: string;
  async: boolean;
  state: 'running' | 'succeeded' | 'failed';
  startedAt: string;
  finishedAt?: string;
  output?: Json;
  error?: { error: string; cause: string };
  report?: RunReport;
}

export interface RunEntry {
  view: RunView;
  /** While running: the report so far. */
  live?: () => RunReport;
}

export class RecentRuns {
  private readonly byWorkflow = new Map<string, RunEntry[]>();

  constructor(private readonly perWorkflow: number) {}

  started(entry: RunEntry): void {
    const list = this.byWorkflow.get(entry.view.workflow) ?? [];
    list.unshift(entry);
    if (list.length > this.perWorkflow) list.length = this.perWorkflow;
    this.byWorkflow.set(entry.view.workflow, list);
  }

  list(workflow: string): RunView[] {
    return (this.byWorkflow.get(workflow) ?? []).map(snapshot);
  }

  get(workflow: string, id: string): RunView | undefined {
    const entry = this.byWorkflow.get(workflow)?.find((e) => e.view.id === id);
    return entry ? snapshot(entry) : undefined;
  }

  forget(workflow: string): void {
    this.byWorkflow.delete(workflow);
  }
}

function snapshot(entry: RunEntry): RunView {
  return entry.live && entry.view.state === 'running' ? { ...entry.view, report: entry.live() } : entry.view;
}
