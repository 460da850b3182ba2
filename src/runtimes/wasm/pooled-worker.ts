/**
 * One wasm worker thread as the pool sees it, and the round trip of a call through its shared
 * memory: write the request into the worker's shared buffer, bump REQ_SEQ, notify, and wait on
 * RESP_SEQ with Atomics.waitAsync (~10 µs there and back, against ~45 µs for postMessage).
 * Before that the main thread may spin briefly on RESP_SEQ (~2 µs round trips when a core is free);
 * not for modules whose recent calls ran longer than the budget, and not while spins keep coming
 * back empty (SpinGovernor), so an overloaded machine is not made worse. A guest blocked in a
 * `tern` import is served here too (host-wire.ts): at once when the answer needs no waiting.
 */
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import {
  HOST_PENDING,
  HOST_SERVING,
  hostBufferSizeFor,
  INITIAL_HOST_BYTES,
  readRequest,
  replySize,
  TERN_ERR,
  writeReply,
  type HostReply,
  type HostRequest,
} from './host-wire.js';
import type { HostHooks, HostSession } from './host-session.js';
import type { InlineProgram } from './inline.js';
import { SpinGovernor } from './spin.js';
import {
  bufferSizeFor,
  CTRL,
  PING_PROGRAM,
  CTRL_BYTES,
  INITIAL_DATA_BYTES,
  REQ,
  RESP,
  type FromWorker,
  type OutcomeKind,
  type ProgramMessage,
  type ToWorker,
  type WorkerInit,
} from './protocol.js';

export const WORKER_URL = new URL('./worker.js', import.meta.url);

/** A prepared module as the pool sees it. */
export interface Program {
  id: number;
  message: Omit<ProgramMessage, 'type' | 'id'>;
  /** Recent run time of a call, µs (exponentially weighted); decides whether to spin. */
  recentRunUs: number;
  /** The module imports `tern`: its calls get a host session. */
  usesHost?: boolean;
  /** Its preemptible variant, for calls run on the calling thread (inline.ts). */
  inline?: InlineProgram;
}

export interface CallInput {
  env: Buffer;
  envCount: number;
  body: Buffer;
  /** Folder to preopen read-only at "/", or "" for no filesystem. */
  root: string;
  /** For modules importing `tern`: serves their host requests (state, chaining). */
  host?: { session: HostSession; log: (line: string) => void };
}

export type RawOutcome =
  | {
      kind: OutcomeKind;
      exitCode: number;
      stdout: Buffer;
      stderr: Buffer;
      stderrDropped: number;
      message: string;
      runUs: number;
      memoryBytes: number;
    }
  | { kind: 'aborted'; reason: unknown }
  | { kind: 'died'; message: string };
/** Bytes of stdout and stderr a call may write. */
export interface OutputLimits {
  stdout: number;
  stderr: number;
}

type WaitAsync = (
  typedArray: Int32Array,
  index: number,
  value: number,
) => { async: false; value: string } | { async: true; value: Promise<string> };
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

export class PooledWorker {
  /** Calls in flight on all workers. Spinning blocks the event loop, so only a lone call may spin. */
  private static inFlight = 0;
  readonly worker: Worker;
  readonly ctrl: Int32Array;
  private data: SharedArrayBuffer;
  /** The `tern` imports' host buffer (host-wire.ts). */
  private host: SharedArrayBuffer;
  private readonly port: MessagePort;
  private seq = 0;
  private readonly spinner: SpinGovernor;
  readonly programs = new Set<number>();
  online = false;
  /** Set once the worker is gone or going: why. */
  dead: string | undefined;
  /** Set when the pool terminated it on purpose (abort, kill, close). */
  private abortReason: unknown;
  /**
   * The call it runs now: the program whose share it counts against (see WorkerPool.held), whether
   * the guest is blocked in a `tern` import, and since when (performance.now()).
   */
  charge: { program: number; blocked: boolean; since: number } | undefined;

  constructor(
    limits: OutputLimits,
    mainSpinUs: number,
    spinUs: number,
    /** +1 when a guest on this worker starts waiting in a slow `tern` import, -1 when it stops. */
    private readonly blockedChanged: (delta: number) => void,
  ) {
    this.spinner = new SpinGovernor(mainSpinUs);
    const ctrl = new SharedArrayBuffer(CTRL_BYTES);
    this.ctrl = new Int32Array(ctrl);
    this.data = new SharedArrayBuffer(INITIAL_DATA_BYTES);
    this.host = new SharedArrayBuffer(INITIAL_HOST_BYTES);
    const channel = new MessageChannel();
    this.port = channel.port1;
    const init: WorkerInit = { ctrl, data: this.data, host: this.host, port: channel.port2, limits, spinUs };
    this.worker = new Worker(WORKER_URL, {
      workerData: init,
      transferList: [channel.port2],
      // The JS heap of a worker holds only per-call buffers; wasm memory is capped by the module rewrite.
      resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32, stackSizeMb: 4 },
      stdout: false,
      stderr: false,
    });
    this.worker.unref();
  }

  /** Mark dead and wake any waiter (the waitAsync on RESP_SEQ) so it sees it. */
  markDead(reason: string): void {
    if (this.dead !== undefined) return;
    this.dead = reason;
    this.port.close();
    Atomics.store(this.ctrl, CTRL.RESP_SEQ, -1);
    Atomics.notify(this.ctrl, CTRL.RESP_SEQ);
  }

  terminate(reason: unknown, why: string): void {
    if (this.dead !== undefined) return;
    this.abortReason = reason;
    this.markDead(why);
    void this.worker.terminate();
  }

  private post(message: ToWorker): void {
    this.port.postMessage(message);
    Atomics.store(this.ctrl, CTRL.REQ_MESSAGES, 1);
  }

  forget(id: number): void {
    if (this.programs.delete(id) && this.dead === undefined) this.post({ type: 'forget', id });
  }

  /** `waiting` is called before the call first yields to the event loop. */
  async call(program: Program, input: CallInput, waiting: () => void): Promise<RawOutcome> {
    if (program.id !== PING_PROGRAM && !this.programs.has(program.id)) {
      this.post({ type: 'program', id: program.id, ...program.message });
      this.programs.add(program.id);
    }
    const root = input.root ? Buffer.from(input.root) : undefined;
    const reqLen = REQ.HEADER + input.env.length + input.body.length + (root?.length ?? 0);
    if (reqLen > this.data.byteLength) {
      this.data = new SharedArrayBuffer(bufferSizeFor(reqLen));
      this.post({ type: 'buffer', data: this.data });
    }
    const bytes = new Uint8Array(this.data);
    const view = new DataView(this.data);
    view.setUint32(REQ.MODULE, program.id, true);
    view.setUint32(REQ.ENV_COUNT, input.envCount, true);
    view.setUint32(REQ.ENV_LEN, input.env.length, true);
    view.setUint32(REQ.BODY_LEN, input.body.length, true);
    view.setUint32(REQ.ROOT_LEN, root?.length ?? 0, true);
    bytes.set(input.env, REQ.HEADER);
    bytes.set(input.body, REQ.HEADER + input.env.length);
    if (root) bytes.set(root, REQ.HEADER + input.env.length + input.body.length);

    const seq = ++this.seq;
    Atomics.store(this.ctrl, CTRL.REQ_LEN, reqLen);
    this.worker.ref();
    PooledWorker.inFlight += 1;
    try {
      Atomics.store(this.ctrl, CTRL.REQ_SEQ, seq);
      Atomics.notify(this.ctrl, CTRL.REQ_SEQ);
      // Only for modules whose calls usually end within the budget (a long call would just burn it),
      // and only when no other call waits on the event loop this spin would block.
      if (PooledWorker.inFlight === 1 && program.recentRunUs <= this.spinner.budgetUs && this.spinner.allowed()) {
        this.spinner.spin(() => {
          const at = Atomics.load(this.ctrl, CTRL.RESP_SEQ);
          return at === seq || at === HOST_PENDING || this.dead !== undefined;
        });
      }
      for (;;) {
        if (this.dead === undefined && Atomics.load(this.ctrl, CTRL.RESP_SEQ) !== seq) waiting();
        if (this.dead !== undefined)
          return this.abortReason !== undefined
            ? { kind: 'aborted', reason: this.abortReason }
            : { kind: 'died', message: this.dead };
        const current = Atomics.load(this.ctrl, CTRL.RESP_SEQ);
        if (current === seq) return this.readResponse(program);
        if (current === HOST_PENDING) {
          // The guest is blocked in a `tern` import. A read or write is answered right here, and
          // the guest's next request (or its end) usually follows within a spin; anything that
          // waits is served without awaiting it here, so an abort still ends this call at once.
          Atomics.store(this.ctrl, CTRL.RESP_SEQ, HOST_SERVING);
          if (this.serveHostNow(input.host)) {
            if (this.spinner.allowed()) {
              this.spinner.spin(() => {
                const at = Atomics.load(this.ctrl, CTRL.RESP_SEQ);
                return at === seq || at === HOST_PENDING || this.dead !== undefined;
              });
            }
          } else void this.serveHost(input.host);
          continue;
        }
        const waited = waitAsync(this.ctrl, CTRL.RESP_SEQ, current);
        if (waited.async) await waited.value;
      }
    } finally {
      PooledWorker.inFlight -= 1;
      if (this.dead === undefined) this.worker.unref();
    }
  }

  /** Take what the worker posted: a bigger data buffer (a response), a bigger host buffer (a request). */
  private drainPort(): void {
    for (let m = receiveMessageOnPort(this.port); m; m = receiveMessageOnPort(this.port)) {
      const msg = m.message as FromWorker;
      if (msg.type === 'buffer') this.data = msg.data;
      else if (msg.type === 'host-buffer') this.host = msg.data;
    }
  }

  private hostHooks(host: NonNullable<CallInput['host']>): HostHooks {
    return {
      postSegment: (key, segment) => {
        if (this.dead !== undefined) return;
        this.port.postMessage({ type: 'segment', key, data: segment });
        Atomics.store(this.ctrl, CTRL.HOST_MESSAGES, 1);
      },
      blocked: (on) => this.blockedChanged(on ? 1 : -1),
      log: host.log,
    };
  }

  private hostRequest(): { seq: number; request: HostRequest } {
    const seq = Atomics.load(this.ctrl, CTRL.HOST_SEQ);
    if (Atomics.exchange(this.ctrl, CTRL.HOST_FROM_WORKER, 0) === 1) this.drainPort();
    return { seq, request: readRequest(this.host) };
  }

  /** A host request that needs no waiting, answered now; false when it must wait (serveHost). */
  private serveHostNow(host: CallInput['host']): boolean {
    if (!host) return false;
    const { seq, request } = this.hostRequest();
    const reply = host.session.serveNow(request, this.hostHooks(host));
    if (!reply) return false;
    this.replyHost(seq, reply);
    return true;
  }

  /** One host request of the guest: run it, write the reply, wake the worker. */
  private async serveHost(host: CallInput['host']): Promise<void> {
    let seq = Atomics.load(this.ctrl, CTRL.HOST_SEQ);
    let reply: HostReply;
    try {
      const taken = this.hostRequest();
      seq = taken.seq;
      reply = host
        ? await host.session.serve(taken.request, this.hostHooks(host))
        : { result: TERN_ERR.UNAVAILABLE, data: Buffer.from('host services are not available to this call') };
    } catch (e) {
      reply = {
        result: TERN_ERR.FAILED,
        data: Buffer.from(`host error: ${e instanceof Error ? e.message : String(e)}`),
      };
    }
    this.replyHost(seq, reply);
  }

  private replyHost(seq: number, reply: HostReply): void {
    if (this.dead !== undefined) return;
    const size = replySize(reply);
    if (size > this.host.byteLength) {
      this.host = new SharedArrayBuffer(hostBufferSizeFor(size));
      this.port.postMessage({ type: 'host-buffer', data: this.host });
      Atomics.store(this.ctrl, CTRL.HOST_MESSAGES, 1);
    }
    writeReply(this.host, reply);
    Atomics.store(this.ctrl, CTRL.HOST_DONE, seq);
    Atomics.notify(this.ctrl, CTRL.HOST_DONE);
  }

  private readResponse(program: Program): RawOutcome {
    if (Atomics.load(this.ctrl, CTRL.RESP_NEW_BUFFER) === 1) {
      Atomics.store(this.ctrl, CTRL.RESP_NEW_BUFFER, 0);
      this.drainPort();
    }
    const view = new DataView(this.data);
    const stdoutLen = view.getUint32(RESP.STDOUT_LEN, true);
    const stderrLen = view.getUint32(RESP.STDERR_LEN, true);
    const messageLen = view.getUint32(RESP.MESSAGE_LEN, true);
    const runUs = view.getFloat64(RESP.RUN_US, true);
    program.recentRunUs = program.recentRunUs * 0.8 + runUs * 0.2;
    const at = RESP.HEADER;
    const copy = (start: number, len: number) => Buffer.from(new Uint8Array(this.data, start, len));
    return {
      kind: view.getUint32(RESP.KIND, true) as OutcomeKind,
      exitCode: view.getInt32(RESP.EXIT_CODE, true),
      stdout: copy(at, stdoutLen),
      stderr: copy(at + stdoutLen, stderrLen),
      stderrDropped: view.getUint32(RESP.STDERR_DROPPED, true),
      message: copy(at + stdoutLen + stderrLen, messageLen).toString('utf8'),
      runUs,
      memoryBytes: view.getFloat64(RESP.MEMORY_BYTES, true),
    };
  }
}
