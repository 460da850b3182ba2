/**
 * Workflows on one node: the store of definitions, sync runs, async runs (journaled, recorded in
 * the node's async call table, resumed after a restart), and the recent runs of each workflow.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import { TernError } from '../core/errors.js';
import { newCallId } from '../core/invocation.js';
import type { Registry } from '../registry/registry.js';
import type { NodeScheduler, AsyncJob } from '../scheduler/scheduler.js';
import type { CallRecord } from '../scheduler/types.js';
import { AslError, parseAsl } from './asl.js';
import type { WorkflowLimits } from '../config/workflows.js';
import { Cancelled } from './errors.js';
import { Execution, type ExecutionHooks, type RunOutcome } from './interpreter.js';
import type { Json } from './json.js';
import { allStates, type Machine } from './machine.js';
import { runResult, type RunResult } from './result.js';
import { RunJournal, type RunStart } from './run-journal.js';
import { RecentRuns, type RunView } from './runs.js';
import { WORKFLOW_NAME, WorkflowStore, type DeployedWorkflow } from './store.js';
import { callTask } from './task-call.js';

export interface WorkflowServiceDeps {
  nodeName: string;
  dataDir: string;
  limits: WorkflowLimits;
  registry: Pick<Registry, 'get'>;
  scheduler: Pick<NodeScheduler, 'invoke' | 'submitJob' | 'resumeJobs'>;
  logger: Logger;
}

const RECENT_RUNS = 20;

interface RunPlan {
  id: string;
  workflow: string;
  machine: Machine;
  start: RunStart;
  resumed: boolean;
}

export function checkWorkflowName(name: string): string {
  if (!WORKFLOW_NAME.test(name))
    throw new TernError(
      'bad_request',
      `invalid workflow name "${name}": 1-80 characters of A-Z, a-z, 0-9, "_" and "-", starting with a letter or digit`,
    );
  return name;
}

export class WorkflowService {
  private readonly recent = new RecentRuns(RECENT_RUNS);
  private readonly asyncRuns = new Map<string, { exec: Execution; done: Promise<unknown> }>();
  private active = 0;
  private closing = false;

  private constructor(
    private readonly d: WorkflowServiceDeps,
    private readonly store: WorkflowStore,
    private readonly runsDir: string,
  ) {}

  static async open(d: WorkflowServiceDeps): Promise<WorkflowService> {
    const root = join(d.dataDir, 'workflows');
    const store = await WorkflowStore.open(join(root, 'defs'), { maxStates: d.limits.maxStates }, d.logger);
    return new WorkflowService(d, store, join(root, 'runs'));
  }

  get limits(): WorkflowLimits {
    return this.d.limits;
  }

  list(): DeployedWorkflow[] {
    return this.store.list();
  }

  get(name: string): DeployedWorkflow | undefined {
    return this.store.get(name);
  }

  require(name: string): DeployedWorkflow {
    const wf = this.store.get(name);
    if (!wf) throw new TernError('not_found', `no workflow "${name}"`);
    return wf;
  }

  /** Parses and checks `text` (400 naming the state and the reason), then stores it. */
  async deploy(name: string, text: string): Promise<{ created: boolean; workflow: DeployedWorkflow }> {
    checkWorkflowName(name);
    let machine: Machine;
    try {
      machine = parseAsl(text, { maxStates: this.d.limits.maxStates });
    } catch (e) {
      if (e instanceof AslError) throw new TernError('bad_request', e.message);
      throw e;
    }
    for (const { state, where } of allStates(machine)) {
      if (state.type === 'Task' && this.d.registry.get(state.resource) === undefined)
        throw new TernError(
          'bad_request',
          `state "${where}${state.name}": Resource "${state.resource}" is not a function deployed on this node`,
        );
    }
    return this.store.put(name, text, machine);
  }

  async remove(name: string): Promise<boolean> {
    const removed = await this.store.delete(name);
    if (removed) this.recent.forget(name);
    return removed;
  }

  /** A run's input from a request body: JSON ({} when empty), within the payload bound. */
  parseInput(body: Buffer): Json {
    if (body.length > this.d.limits.maxPayloadBytes)
      throw new TernError(
        'too_large',
        `the input is ${body.length} bytes, over the node's ${this.d.limits.maxPayloadBytes}-byte limit for a workflow payload ([workflows] max-payload)`,
      );
    const text = body.toString('utf8');
    if (text.trim() === '') return {};
    try {
      return JSON.parse(text) as Json;
    } catch (e) {
      throw new TernError('bad_request', `the input is not JSON: ${(e as Error).message}`);
    }
  }

  /** Runs a workflow to its end and answers with its outcome (sync runs are not journaled). */
  async run(name: string, input: Json, authenticated: boolean): Promise<RunResult> {
    const wf = this.require(name);
    this.admit();
    const plan = this.plan(newCallId(), wf, input, authenticated);
    const exec = this.execution(plan, {});
    const view: RunView = {
      id: plan.id,
      workflow: wf.name,
      async: false,
      state: 'running',
      startedAt: new Date(plan.start.startedAt).toISOString(),
    };
    this.recent.started({ view, live: () => exec.snapshot() });
    this.active++;
    try {
      const outcome = await exec.run();
      settle(view, outcome);
      return runResult(plan.id, outcome);
    } finally {
      this.active--;
    }
  }

  /** Accepts an async run: journaled and recorded (GET /v1/calls/{id}) before this returns. */
  async submit(name: string, input: Json, authenticated: boolean): Promise<CallRecord> {
    const wf = this.require(name);
    this.admit();
    const plan = this.plan(newCallId(), wf, input, authenticated);
    const journal = await RunJournal.create(this.runsDir, plan.id, plan.start);
    const usesPrivate = wf.functions.some((fn) => this.d.registry.get(fn)?.spec.private === true);
    try {
      return await this.d.scheduler.submitJob(this.job(plan, journal, authenticated && usesPrivate));
    } catch (e) {
      await journal.remove();
      throw e;
    }
  }

  /** At start: resumes the async runs a previous node left unfinished; returns how many. */
  async resume(): Promise<number> {
    const journals = await RunJournal.unfinished(this.runsDir);
    const adopted = new Set<string>();
    const resumed = this.d.scheduler.resumeJobs('workflow', (record) => {
      const journal = journals.get(record.id);
      if (journal === undefined) return undefined;
      try {
        const machine = parseAsl(journal.start.definition, { maxStates: Number.MAX_SAFE_INTEGER });
        adopted.add(record.id);
        const plan: RunPlan = {
          id: record.id,
          workflow: journal.start.workflow,
          machine,
          start: journal.start,
          resumed: true,
        };
        this.d.logger.info(
          { event: 'workflow_resumed', run: record.id, workflow: plan.workflow, replayable: journal.replayable },
          `resuming workflow run ${record.id}`,
        );
        return this.job(plan, journal, record.private === true);
      } catch (e) {
        this.d.logger.error(
          { event: 'workflow_resume', run: record.id, err: (e as Error).message },
          'cannot resume a workflow run',
        );
        return undefined;
      }
    });
    for (const [id, journal] of journals) if (!adopted.has(id)) await journal.remove();
    return resumed;
  }

  runs(name: string): RunView[] {
    this.require(name);
    return this.recent.list(name);
  }

  runOf(name: string, id: string): RunView | undefined {
    return this.recent.get(name, id);
  }

  /** Stops the async runs where they are (their journals stay: the next start resumes them). */
  async close(): Promise<void> {
    this.closing = true;
    const running = [...this.asyncRuns.values()];
    for (const r of running) r.exec.cancel('the node is shutting down');
    await Promise.allSettled(running.map((r) => r.done));
  }

  private admit(): void {
    if (this.closing) throw new TernError('unavailable', 'the node is shutting down');
    if (this.active >= this.d.limits.maxRunning)
      throw new TernError(
        'queue_full',
        `${this.active} workflow runs are in progress, the node's limit ([workflows] max-running)`,
        { 'retry-after': '1' },
      );
  }

  private plan(id: string, wf: DeployedWorkflow, input: Json, authenticated: boolean): RunPlan {
    const startedAt = Date.now();
    const own = wf.machine.timeoutSeconds === undefined ? Infinity : wf.machine.timeoutSeconds * 1000;
    const deadline = startedAt + Math.min(own, this.d.limits.maxRunMs);
    const start: RunStart = {
      t: 'start',
      workflow: wf.name,
      definition: wf.definition,
      input,
      startedAt,
      deadline,
      authenticated,
    };
    return { id, workflow: wf.name, machine: wf.machine, start, resumed: false };
  }

  private execution(plan: RunPlan, journal: Partial<ExecutionHooks>): Execution {
    const { start } = plan;
    const taskRun = { id: plan.id, authenticated: start.authenticated, maxPayloadBytes: this.d.limits.maxPayloadBytes };
    return new Execution({
      workflow: plan.workflow,
      runId: plan.id,
      node: this.d.nodeName,
      machine: plan.machine,
      input: start.input,
      startedAt: start.startedAt,
      deadline: start.deadline,
      limits: this.d.limits,
      resumed: plan.resumed,
      hooks: {
        ...journal,
        invoke: (call) => {
          // A node that shuts down keeps an async run's journal for the next start: no new calls from here.
          if (this.closing && this.asyncRuns.has(plan.id))
            return Promise.reject(new Cancelled('the node is shutting down'));
          return callTask(this.d.scheduler, call, taskRun);
        },
      },
    });
  }

  private job(plan: RunPlan, journal: RunJournal, isPrivate: boolean): AsyncJob {
    return {
      id: plan.id,
      name: plan.workflow,
      kind: 'workflow',
      private: isPrivate,
      run: (running) => this.runJournaled(plan, journal, running),
      recorded: () => {
        journal.remove().catch((e: unknown) => {
          this.d.logger.warn(
            { event: 'workflow_journal', run: plan.id, err: (e as Error).message },
            'cannot remove a run journal',
          );
        });
      },
    };
  }

  private async runJournaled(plan: RunPlan, journal: RunJournal, running: () => void) {
    running();
    const exec = this.execution(plan, {
      completed: (r) => journal.completed(r),
      waitStarted: (k, until) => journal.waitStarted(k, until),
      recall: (k) => journal.recall(k),
      recallWait: (k) => journal.recallWait(k),
    });
    const view: RunView = {
      id: plan.id,
      workflow: plan.workflow,
      async: true,
      state: 'running',
      startedAt: new Date(plan.start.startedAt).toISOString(),
    };
    this.recent.started({ view, live: () => exec.snapshot() });
    const done = exec.run();
    this.asyncRuns.set(plan.id, { exec, done });
    this.active++;
    try {
      const outcome = await done;
      settle(view, outcome);
      return runResult(plan.id, outcome).result;
    } catch (e) {
      if (!(e instanceof Cancelled)) throw e;
      await journal.close();
      return undefined;
    } finally {
      this.active--;
      this.asyncRuns.delete(plan.id);
    }
  }
}

function settle(view: RunView, outcome: RunOutcome): void {
  view.state = outcome.ok ? 'succeeded' : 'failed';
  view.finishedAt = new Date().toISOString();
  view.report = outcome.report;
  if (outcome.ok) view.output = outcome.output;
  else view.error = { error: outcome.error.error, cause: outcome.error.cause };
}
