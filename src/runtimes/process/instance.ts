/**
 * One sandboxed process serving calls through its shim: the protocol on fd 3, the function's
 * output as log lines, and an exit that is always explained (OOM, exit code, signal).
 */
import type { Duplex } from 'node:stream';
import { TernError } from '../../core/errors.js';
import type { Invocation } from '../../core/invocation.js';
import type { Response } from '../../core/result.js';
import type { DeployedFunction } from '../../registry/registry.js';
import type { HostOpsServer, HostServices, Instance, InstanceOptions, LogStream } from '../runtime.js';
import { parseCgiOutput } from '../cgi/response.js';
import { cgiVariables } from '../cgi/variables.js';
import type { InstanceCgroup } from './cgroup.js';
import { describeExit } from './exit-reason.js';
import { HostOps } from './host-ops.js';
import type { Launched } from './launch.js';
import { LineSplitter } from '../../core/lines.js';
import type { Companion } from './sandbox-network.js';
import {
  encodeFrame,
  FrameDecoder,
  int,
  ProtocolError,
  str,
  stringRecord,
  type Frame,
  type Header,
} from './protocol.js';
import type { ResponseHeaders } from '../../core/headers.js';

/** Longest wait for the shim's "ready" (interpreter start plus the handler's imports). */
export const START_TIMEOUT_MS = 30_000;
/** How long a graceful stop waits for the shim to leave after its channel closed. */
const STOP_GRACE_MS = 2_000;
const MAX_HOST_REQUESTS = 64;
const MAX_RESPONSE_HEADERS = 200;
const STDERR_TAIL_LINES = 8;
/** Error messages from the shim are the function's words: bounded. */
const MAX_MESSAGE = 4000;

interface PendingCall {
  inv: Invocation;
  resolve: (r: Response) => void;
  reject: (e: TernError) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

/** The instance's process: a launcher (ChildProcess) or a child forked by a zygote (zygote.ts). */
export interface SandboxProcess {
  readonly pid?: number | undefined;
  kill(signal?: NodeJS.Signals): boolean;
  once(event: 'exit' | 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: 'error', listener: (e: Error) => void): unknown;
}
/** What an instance needs of its cgroup: a forked child shares its zygote's and removes nothing. */
export type InstanceCgroupView = Pick<InstanceCgroup, 'oomKills' | 'remove'>;

export interface InstanceSetup {
  fn: DeployedFunction;
  options: InstanceOptions;
  cgroup: InstanceCgroupView;
  launched: Pick<Launched, 'channel' | 'stdout' | 'stderr'> & { child: SandboxProcess };
  /** Binary functions: calls carry a CGI environment and come back as CGI output. */
  cgi: boolean;
  host: HostServices | undefined;
  /** Serves host requests elsewhere (an edge loop's go to the control loop); default: `host` here. */
  hostOps?: HostOpsServer;
}

type State = 'starting' | 'ready' | 'stopping' | 'dead';

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const BAD_HEADER_VALUE = /[\r\n\0]/;
/** The body is complete: its length and encoding are for the trigger to say. */
const FRAMING_HEADERS = ['content-length', 'transfer-encoding', 'connection'];

/** Drops framing headers in place; returns what is wrong with the rest, if anything. */
function checkHeaders(headers: ResponseHeaders): string | undefined {
  const names = Object.keys(headers);
  if (names.length > MAX_RESPONSE_HEADERS)
    return `the response has ${names.length} headers, at most ${MAX_RESPONSE_HEADERS}`;
  for (const name of names) {
    if (FRAMING_HEADERS.includes(name)) delete headers[name];
    else if (!HEADER_NAME.test(name)) return `invalid response header name ${JSON.stringify(name.slice(0, 60))}`;
    else if ([headers[name]!].flat().some((v) => typeof v !== 'string' || BAD_HEADER_VALUE.test(v)))
      return `invalid value of response header "${name}"`;
  }
  return undefined;
}

export class ProcessInstance implements Instance {
  private ownId: string;
  private readonly fn: DeployedFunction;
  private readonly child: SandboxProcess;
  private readonly channel: Duplex;
  private readonly cgroup: InstanceCgroupView;
  private log: InstanceOptions['log'];
  private readonly cgi: boolean;
  private readonly hostOps: HostOpsServer;
  private readonly decoder = new FrameDecoder();
  private state: State = 'starting';
  private seq = 0;
  private readonly calls = new Map<string, PendingCall>();
  private readonly callSplitters = new Map<string, LineSplitter>();
  private readonly rawSplitters: LineSplitter[] = [];
  private readonly stderrTail: string[] = [];
  private hostRequests = 0;
  private oomSeen = 0;
  private readonly exitListeners: ((reason: string) => void)[] = [];
  private exitReason: string | undefined;
  /** Set by stop()/kill(): the exit is ours, not the function's. */
  private intended = false;
  private readyWaiter: { resolve: () => void; reject: (e: TernError) => void } | undefined;
  /** Resolves once the process is gone and its cgroup removed. */
  readonly finished: Promise<void>;
  private cleanupProblem: string | undefined;
  /** Helpers of this sandbox outside it (its network): ended before the cgroup is removed. */
  private readonly companions: Companion[] = [];
  private gone = false;

  constructor(setup: InstanceSetup) {
    this.ownId = setup.options.id;
    this.fn = setup.fn;
    this.child = setup.launched.child;
    this.channel = setup.launched.channel;
    this.cgroup = setup.cgroup;
    this.log = setup.options.log;
    this.cgi = setup.cgi;
    this.hostOps = setup.hostOps ?? new HostOps(setup.host);
    this.channel.on('data', (chunk: Buffer) => this.onData(chunk));
    this.channel.on('error', () => undefined);
    this.pipeRaw(setup.launched.stdout, 'stdout');
    this.pipeRaw(setup.launched.stderr, 'stderr');
    this.finished = new Promise<void>((resolve) => {
      let exit: [number | null, NodeJS.Signals | null] = [null, null];
      let exited = false;
      let gone = false;
      let closeTimer: NodeJS.Timeout | undefined;
      const done = () => {
        if (gone) return;
        gone = true;
        clearTimeout(closeTimer);
        void this.onGone(exit[0], exit[1]).then(resolve);
      };
      this.child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
        exit = [code, signal];
        exited = true;
        this.state = 'dead';
        // Let the pipes drain for the last stderr lines, but not forever.
        closeTimer = setTimeout(done, 1000);
      });
      this.child.once('close', () => {
        if (exited) done();
      });
      this.child.once('error', (e: Error) => {
        this.stderrTail.push(`cannot start the sandbox: ${e.message}`);
        if (this.child.pid === undefined) {
          this.state = 'dead';
          done();
        }
      });
    });
  }

  get id(): string {
    return this.ownId;
  }

  /** Serving calls: started, and neither stopping nor gone. */
  get isReady(): boolean {
    return this.state === 'ready';
  }

  /**
   * A sandbox started ahead of need (spares.ts) becomes the pool's instance: its id and log sink
   * from now on, and the shim is told the id (its TERN_INSTANCE and the handler's context).
   */
  adopt(options: Pick<InstanceOptions, 'id' | 'log'>): void {
    this.ownId = options.id;
    this.log = options.log;
    this.send({ t: 'instance', id: options.id });
  }

  /** Resolves when the shim has loaded the handler; rejects with why it could not. */
  waitReady(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.readyWaiter = undefined;
        reject(
          new TernError(
            'function_crashed',
            `instance of "${this.fn.spec.name}" did not start within ${timeoutMs / 1000}s`,
          ),
        );
        this.kill().catch(() => undefined);
      }, timeoutMs);
      this.readyWaiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  call(inv: Invocation, signal: AbortSignal): Promise<Response> {
    if (this.state !== 'ready') return Promise.reject(this.unavailable());
    if (signal.aborted) return Promise.reject(new TernError('unavailable', `instance ${this.id} was stopped`));
    const wid = `c${(++this.seq).toString(36)}`;
    const header: Header = {
      t: 'call',
      id: wid,
      call: inv.id,
      method: inv.method,
      path: inv.path,
      query: inv.query,
      headers: inv.headers,
    };
    if (this.cgi) header.env = Object.fromEntries(cgiVariables(inv, this.fn.spec.name));
    return new Promise<Response>((resolve, reject) => {
      const onAbort = () => this.settle(wid)?.reject(new TernError('unavailable', `instance ${this.id} was stopped`));
      this.calls.set(wid, { inv, resolve, reject, signal, onAbort });
      signal.addEventListener('abort', onAbort, { once: true });
      this.send(header, inv.body);
    });
  }

  async stop(): Promise<void> {
    if (this.state === 'starting' || this.state === 'ready') {
      this.intended = true;
      this.state = 'stopping';
      // EOF on its channel tells the shim to leave; it gets a moment, then the kill.
      this.channel.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_GRACE_MS);
      await this.finished;
      clearTimeout(timer);
    } else {
      await this.finished;
    }
    this.throwCleanupProblem();
  }

  async kill(): Promise<void> {
    if (this.state !== 'dead') {
      this.intended = true;
      this.state = 'stopping';
      // bwrap's init has the die-with-parent death signal: the whole pid namespace goes with it.
      this.child.kill('SIGKILL');
    }
    await this.finished;
    this.throwCleanupProblem();
  }

  /** Tie a helper's life to this instance's (one that comes after the end is ended at once). */
  addCompanion(companion: Companion): void {
    if (this.gone) void companion.close().catch(() => undefined);
    else this.companions.push(companion);
  }

  onExit(listener: (reason: string) => void): void {
    if (this.exitReason !== undefined && !this.intended) queueMicrotask(() => listener(this.exitReason!));
    else this.exitListeners.push(listener);
  }

  private throwCleanupProblem(): void {
    if (this.cleanupProblem !== undefined) throw new Error(this.cleanupProblem);
  }

  private unavailable(): TernError {
    if (this.exitReason !== undefined && !this.intended) return this.crashed(this.exitReason);
    return new TernError(
      'unavailable',
      `instance ${this.id} is ${this.state === 'starting' ? 'still starting' : 'stopped'}`,
    );
  }

  private crashed(reason: string): TernError {
    return new TernError('function_crashed', `function "${this.fn.spec.name}" crashed: ${reason}`);
  }

  private send(header: Header, body?: Buffer): void {
    if (this.channel.destroyed || this.channel.writableEnded) return;
    const parts = encodeFrame(header, body);
    this.channel.cork();
    for (const p of parts) this.channel.write(p);
    this.channel.uncork();
  }

  /** Take a call out of the table (it is answered or given up). */
  private settle(wid: string): PendingCall | undefined {
    const call = this.calls.get(wid);
    if (!call) return undefined;
    this.calls.delete(wid);
    this.hostOps.forget(call.inv.id);
    call.signal.removeEventListener('abort', call.onAbort);
    for (const stream of ['stdout', 'stderr'] as const) {
      const key = `${wid}:${stream}`;
      const splitter = this.callSplitters.get(key);
      if (splitter) {
        splitter.end();
        this.callSplitters.delete(key);
      }
    }
    return call;
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (e) {
      this.protocolFailure(e instanceof ProtocolError ? e.message : String(e));
      return;
    }
    for (const f of frames) this.onFrame(f);
  }

  private protocolFailure(message: string): void {
    if (this.state === 'dead') return;
    this.stderrTail.push(`protocol error: ${message}`);
    this.child.kill('SIGKILL');
  }

  private onFrame({ header, body }: Frame): void {
    switch (header.t) {
      case 'log':
        return this.onLogFrame(header, body);
      case 'result':
        return this.onResult(header, body);
      case 'cgi':
        return void this.onCgi(header, body);
      case 'error': {
        const wid = str(header, 'id') ?? '';
        this.settle(wid)?.reject(
          new TernError('function_error', (str(header, 'message') ?? 'the function failed').slice(0, MAX_MESSAGE)),
        );
        return;
      }
      case 'host':
        return void this.onHostRequest(header, body);
      case 'ready':
        if (this.state === 'starting') {
          this.state = 'ready';
          this.readyWaiter?.resolve();
        }
        return;
      case 'init-error': {
        const message = (str(header, 'message') ?? 'the handler could not be loaded').slice(0, MAX_MESSAGE);
        this.readyWaiter?.reject(
          new TernError(
            'function_error',
            `cannot load handler "${this.fn.spec.handler}" of "${this.fn.spec.name}": ${message}`,
          ),
        );
        this.readyWaiter = undefined;
        return;
      }
      default:
        // Unknown kinds are ignored: newer shims may say more than this node understands.
        return;
    }
  }

  private onResult(header: Header, body: Buffer): void {
    const call = this.settle(str(header, 'id') ?? '');
    if (!call) return;
    const status = int(header, 'status');
    const headers = stringRecord(header.headers);
    if (status === undefined || status < 100 || status > 599 || headers === undefined) {
      call.reject(new TernError('function_error', 'the function returned a malformed response'));
      return;
    }
    this.answer(call, { status, headers, body });
  }

  /** Hand a response over once its headers are fit for HTTP (and the framing headers are ours). */
  private answer(call: PendingCall, response: Response): void {
    const problem = checkHeaders(response.headers);
    if (problem) call.reject(new TernError('function_error', problem));
    else call.resolve(response);
  }

  private async onCgi(header: Header, body: Buffer): Promise<void> {
    const call = this.settle(str(header, 'id') ?? '');
    if (!call) return;
    const exit = int(header, 'exit');
    const signal = int(header, 'signal');
    if (exit === 0) {
      this.answer(call, parseCgiOutput(body));
      return;
    }
    const program = this.fn.spec.handler;
    if (signal !== undefined) {
      const ooms = await this.cgroup.oomKills();
      const oom = ooms > this.oomSeen;
      this.oomSeen = ooms;
      call.reject(
        new TernError(
          'function_error',
          oom
            ? `${program} ran out of memory (limit ${this.fn.spec.memory} MiB)`
            : `${program} was killed by signal ${signal}`,
        ),
      );
    } else {
      call.reject(new TernError('function_error', `${program} exited with code ${exit ?? '?'}`));
    }
  }

  private async onHostRequest(header: Header, body: Buffer): Promise<void> {
    const id = str(header, 'id');
    if (id === undefined) return;
    const reply = (h: Header, b?: Buffer) => this.send({ t: 'host-result', id, ...h }, b);
    const parent = this.callByInvocation(str(header, 'call'));
    if (!parent) return reply({ error: 'host requests are only possible during a call' });
    if (this.hostRequests >= MAX_HOST_REQUESTS)
      return reply({ error: `more than ${MAX_HOST_REQUESTS} host requests at once` });
    const op = str(header, 'op');
    const args = (header.args !== null && typeof header.args === 'object' ? header.args : {}) as Header;
    this.hostRequests++;
    try {
      // Chaining and state (host-ops.ts, docs/state.md).
      const answer = await this.hostOps.serve(parent, op, args, body);
      return reply(answer.header, answer.body);
    } finally {
      this.hostRequests--;
    }
  }

  private callByInvocation(invId: string | undefined): Invocation | undefined {
    if (invId === undefined) return undefined;
    for (const c of this.calls.values()) if (c.inv.id === invId) return c.inv;
    return undefined;
  }

  /** The one call in flight, if exactly one: untagged output is attributed to it. */
  private soleCallId(): string | undefined {
    if (this.calls.size !== 1) return undefined;
    for (const c of this.calls.values()) return c.inv.id;
    return undefined;
  }

  private emit(line: string, stream: LogStream, callId: string | undefined): void {
    if (stream === 'stderr') {
      this.stderrTail.push(line);
      if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    }
    try {
      this.log(line, stream, this.id, callId);
    } catch {
      // A failing log sink must not take the instance down.
    }
  }

  private onLogFrame(header: Header, body: Buffer): void {
    const stream: LogStream = header.s === 'stderr' ? 'stderr' : 'stdout';
    const wid = str(header, 'id');
    const call = wid === undefined ? undefined : this.calls.get(wid);
    if (!call) {
      // Output outside any call (module load, timers): one splitter per stream for the instance.
      const key = `:${stream}`;
      let splitter = this.callSplitters.get(key);
      if (!splitter) {
        splitter = new LineSplitter((line) => this.emit(line, stream, this.soleCallId()));
        this.callSplitters.set(key, splitter);
      }
      splitter.push(body);
      return;
    }
    const key = `${wid}:${stream}`;
    let splitter = this.callSplitters.get(key);
    if (!splitter) {
      const callId = call.inv.id;
      splitter = new LineSplitter((line) => this.emit(line, stream, callId));
      this.callSplitters.set(key, splitter);
    }
    splitter.push(body);
  }

  private pipeRaw(readable: NodeJS.ReadableStream, stream: LogStream): void {
    const splitter = new LineSplitter((line) => this.emit(line, stream, this.soleCallId()));
    this.rawSplitters.push(splitter);
    readable.on('data', (chunk: Buffer) => splitter.push(chunk));
    readable.on('end', () => splitter.end());
    readable.on('error', () => undefined);
  }

  /** The process is gone: explain it, fail what was in flight, clean up, tell the listeners. */
  private async onGone(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    this.state = 'dead';
    for (const s of this.callSplitters.values()) s.end();
    this.callSplitters.clear();
    for (const s of this.rawSplitters) s.end();
    const oomKills = await this.cgroup.oomKills().catch(() => 0);
    const reason = describeExit({
      code,
      signal,
      oomKills: oomKills - this.oomSeen,
      memoryMiB: this.fn.spec.memory,
      stderrTail: this.stderrTail,
    });
    this.exitReason = this.intended ? 'stopped' : reason;
    const waiter = this.readyWaiter;
    this.readyWaiter = undefined;
    waiter?.reject(new TernError('function_crashed', `instance of "${this.fn.spec.name}" failed to start: ${reason}`));
    const error = this.intended
      ? new TernError('unavailable', `instance ${this.id} was stopped`)
      : this.crashed(reason);
    for (const wid of [...this.calls.keys()]) this.settle(wid)?.reject(error);
    this.gone = true;
    await Promise.all(this.companions.splice(0).map((c) => c.close().catch(() => undefined)));
    try {
      await this.cgroup.remove();
    } catch (e) {
      this.cleanupProblem = (e as Error).message;
    }
    if (!this.intended) {
      for (const l of this.exitListeners.splice(0)) {
        try {
          l(reason);
        } catch {
          // A listener's failure is its own.
        }
      }
    }
  }
}
