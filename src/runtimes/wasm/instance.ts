/**
 * A Tern instance of a wasm function. A WASI command runs `_start` once, so every call gets a fresh
 * WebAssembly.Instance (fresh linear memory, nothing leaks between calls) inside a warm worker;
 * this object is the handle the pool keeps: it binds the compiled module, the function's folder
 * and its log sink, and it can kill whatever it has running.
 */
import { TernError } from '../../core/errors.js';
import type { Invocation } from '../../core/invocation.js';
import type { Response } from '../../core/result.js';
import type { DeployedFunction } from '../../registry/registry.js';
import type { HostServices, Instance, InstanceOptions } from '../runtime.js';
import { cgiVariables, envBlock } from '../cgi/variables.js';
import { HostSession } from './host-session.js';
import { parseCgiOutput } from '../cgi/response.js';
import { logOutput } from './log-lines.js';
import { OUTCOME } from './protocol.js';
import type { InlineRunner } from './inline.js';
import type { CallInput, Program, RawOutcome } from './pooled-worker.js';
import { CallControl, type WorkerPool } from './worker-pool.js';

type State = 'live' | 'stopped' | 'killed';

function abortError(reason: unknown): TernError {
  return reason instanceof TernError
    ? reason
    : new TernError('timeout', 'the wasm call was aborted (timeout) and its worker terminated');
}

export class WasmInstance implements Instance {
  readonly id: string;
  private state: State = 'live';
  private readonly running = new Set<CallControl>();

  constructor(
    private readonly fn: DeployedFunction,
    private readonly program: Program,
    private readonly runners: { pool: WorkerPool; inline: InlineRunner },
    private readonly options: InstanceOptions,
    /** State and chaining for modules that import `tern`. */
    private readonly host?: HostServices,
  ) {
    this.id = options.id;
  }

  async call(inv: Invocation, signal: AbortSignal): Promise<Response> {
    if (this.state !== 'live') throw new TernError('function_crashed', `wasm instance ${this.id} is ${this.state}`);
    if (signal.aborted) throw abortError(signal.reason);
    const env = envBlock(cgiVariables(inv, this.fn.spec.name, this.fn.spec.env));
    const host = this.program.usesHost
      ? {
          session: new HostSession(inv, this.host),
          log: (line: string) => this.options.log(line, 'stderr', this.id, inv.id),
        }
      : undefined;
    const input: CallInput = {
      env: env.bytes,
      envCount: env.count,
      body: inv.body,
      root: this.fn.spec.files ? this.fn.dir : '',
      ...(host ? { host } : {}),
    };
    const { inline, pool } = this.runners;
    const program = this.program;
    if (pool.isClosed) throw new TernError('unavailable', 'the wasm runtime is shut down');
    if (inline.enabled && inline.eligible(program.inline, program.recentRunUs, input)) {
      const done = inline.run(program.inline, input);
      if (done !== undefined) {
        program.recentRunUs = program.recentRunUs * 0.8 + done.runUs * 0.2;
        return this.finish(inv, done);
      }
    }
    const control = new CallControl();
    this.running.add(control);
    let outcome: RawOutcome;
    try {
      outcome = await this.runners.pool.run(program, input, signal, control);
    } finally {
      this.running.delete(control);
    }
    // The pool's own abort (its timeout) explains the failure better than a kill() that came with it.
    if (outcome.kind === 'aborted' && signal.aborted) throw abortError(signal.reason);
    return this.finish(inv, outcome);
  }

  private log(output: Buffer, stream: 'stdout' | 'stderr', inv: Invocation): void {
    if (output.length > 0) logOutput(this.options.log, output, stream, this.id, inv.id);
  }

  private fail(inv: Invocation, err: TernError): never {
    this.options.log(err.message, 'stderr', this.id, inv.id);
    throw err;
  }

  private finish(inv: Invocation, o: RawOutcome): Response {
    if (o.kind === 'aborted') throw abortError(o.reason);
    if (o.kind === 'died')
      this.fail(inv, new TernError('function_crashed', `the wasm worker died during the call: ${o.message}`));
    this.log(o.stderr, 'stderr', inv);
    if (o.stderrDropped > 0)
      this.options.log(`[${o.stderrDropped} more bytes of stderr dropped]`, 'stderr', this.id, inv.id);
    if (o.kind === OUTCOME.EXIT && o.exitCode === 0) {
      const parsed = parseCgiOutput(o.stdout, 'the wasm function');
      for (const d of parsed.dropped) this.options.log(`response header dropped: ${d}`, 'stderr', this.id, inv.id);
      return { status: parsed.status, headers: parsed.headers, body: parsed.body };
    }
    // A failed call has no response: what it printed goes to the logs.
    this.log(o.stdout, 'stdout', inv);
    const capMiB = Math.round((this.program.message.capPages * 65536) / (1024 * 1024));
    switch (o.kind) {
      case OUTCOME.EXIT:
        return this.fail(inv, new TernError('function_error', `the wasm module exited with code ${o.exitCode}`));
      case OUTCOME.TRAP:
        return this.fail(inv, new TernError('function_error', `wasm trap: ${o.message}`));
      case OUTCOME.MEMORY_EXCEEDED:
        return this.fail(
          inv,
          new TernError(
            'memory_exceeded',
            `the wasm module needed more than its ${capMiB} MiB of linear memory (${o.message}); raise memory in function.toml`,
          ),
        );
      case OUTCOME.OUTPUT_LIMIT:
        return this.fail(inv, new TernError('function_error', `the wasm module wrote too much output: ${o.message}`));
      case OUTCOME.INSTANTIATE_FAILED:
        return this.fail(
          inv,
          new TernError('function_error', `the wasm module could not be instantiated: ${o.message}`),
        );
      default:
        return this.fail(inv, new TernError('internal', `wasm runtime: ${o.message}`));
    }
  }

  async stop(): Promise<void> {
    if (this.state === 'live') this.state = 'stopped';
  }

  async kill(): Promise<void> {
    if (this.state === 'killed') return;
    this.state = 'killed';
    for (const c of this.running) c.cancel(new TernError('function_crashed', `wasm instance ${this.id} was killed`));
  }

  onExit(_listener: (reason: string) => void): void {
    // A handle has nothing that can die on its own: a worker that dies fails its call instead.
  }
}
