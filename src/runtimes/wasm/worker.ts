/**
 * A wasm worker thread: waits on its control buffer, runs one call at a time in a fresh
 * WebAssembly.Instance of an already compiled module, writes the outcome back. It never returns to
 * its event loop; the main thread ends it with worker.terminate() (which also stops a guest stuck
 * in a loop).
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { GROW_REFUSED_EXPORT, PAGE_BYTES } from './memory-cap.js';
import {
  bufferSizeFor,
  CTRL,
  OUTCOME,
  PING_PROGRAM,
  REQ,
  RESP,
  type OutcomeKind,
  type ProgramMessage,
  type ToWorker,
  type WorkerInit,
} from './protocol.js';
import { SpinGovernor } from './spin.js';
import { TERN_MODULE, TernHost } from './tern-imports.js';
import { ReadOnlyTree } from './wasi-files.js';
import { OutputLimitExceeded, ProcExit, Wasi, WASI_MODULE } from './wasi.js';
import { wasm, type WasmImports, type WasmInstance, type WasmMemory } from './wasm-api.js';

interface Program {
  message: ProgramMessage;
  args: Uint8Array;
  /** The import object; its memory slot is filled per instance. */
  imports: WasmImports;
  memorySlot: Record<string, unknown> | undefined;
  /** A zeroed memory left by the last call, ready for the next instance. */
  spare: WasmMemory | undefined;
  /** Size a memory must still have to be reused (0: never reuse, too big to zero cheaply). */
  reuseBytes: number;
}

const MAX_TREES = 64;
/** Zeroing costs ~1 µs per 128 KiB; past this a fresh (lazily zeroed) memory is cheaper. */
const MAX_REUSE_BYTES = 1 << 20;
/** Spare memories kept per worker, for the most recently called programs (≤ 32 MiB in all). */
const MAX_SPARES = 32;
/** Without the grow hook, a failure this close to the cap is taken for running out of memory. */
const HEURISTIC_SLACK_BYTES = 1 << 20;

const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.ctrl);
let data = new Uint8Array(init.data);
let view = new DataView(init.data);
const wasi = new Wasi(init.limits);
const programs = new Map<number, Program>();
const trees = new Map<string, ReadOnlyTree>();
/** Programs holding a spare memory, oldest first. */
const spareHolders = new Set<Program>();
const spinner = new SpinGovernor(init.spinUs);
/** The `tern` import module (state, chaining): one per worker, bound to each call's memory. */
const tern = new TernHost(ctrl, init.host, init.port, drainPort, init.spinUs);

function adoptBuffer(sab: SharedArrayBuffer): void {
  data = new Uint8Array(sab);
  view = new DataView(sab);
}

function addProgram(message: ProgramMessage): void {
  const names = wasm.Module.imports(message.module)
    .filter((i) => i.module === WASI_MODULE && i.kind === 'function')
    .map((i) => i.name);
  const imports: WasmImports = { [WASI_MODULE]: wasi.importsFor(names) };
  // prepare.ts admitted only known `tern` names with the right signatures.
  if (wasm.Module.imports(message.module).some((i) => i.module === TERN_MODULE)) imports[TERN_MODULE] = tern.imports;
  const m = message.memoryImport;
  let memorySlot: Record<string, unknown> | undefined;
  if (m) {
    memorySlot = { ...imports[m.module] };
    imports[m.module] = memorySlot;
  }
  const initialBytes = (m?.initial ?? 0) * PAGE_BYTES;
  programs.set(message.id, {
    message,
    args: Buffer.from(message.args.map((a) => `${a}\0`).join('')),
    imports,
    memorySlot,
    spare: undefined,
    reuseBytes: initialBytes > 0 && initialBytes <= MAX_REUSE_BYTES ? initialBytes : 0,
  });
}

function drainPort(): void {
  for (;;) {
    const received = receiveMessageOnPort(init.port);
    if (!received) return;
    const m = received.message as ToWorker;
    if (m.type === 'program') addProgram(m);
    else if (m.type === 'forget') {
      const program = programs.get(m.id);
      if (program) spareHolders.delete(program);
      programs.delete(m.id);
    } else if (m.type === 'buffer') adoptBuffer(m.data);
    else tern.receive(m);
  }
}

function treeFor(root: string): ReadOnlyTree {
  let tree = trees.get(root);
  if (!tree) {
    tree = new ReadOnlyTree(root);
    if (trees.size >= MAX_TREES) trees.delete(trees.keys().next().value as string);
    trees.set(root, tree);
  }
  return tree;
}

interface Outcome {
  kind: OutcomeKind;
  exitCode: number;
  message: string;
  memoryBytes: number;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function isStackOverflow(e: unknown): boolean {
  return e instanceof RangeError && /call stack/i.test(e.message);
}

function run(program: Program): Outcome {
  const { message } = program;
  let memory: WasmMemory | undefined;
  let instance: WasmInstance | undefined;
  const memoryBytes = () => memory?.buffer.byteLength ?? 0;
  try {
    const m = message.memoryImport;
    if (m && program.memorySlot) {
      memory =
        program.spare ??
        new wasm.Memory({ initial: m.initial, maximum: message.capPages, ...(m.shared ? { shared: true } : {}) });
      program.spare = undefined;
      program.memorySlot[m.name] = memory;
      wasi.bindMemory(memory);
      tern.bindMemory(memory);
      lastMemory = memory;
    }
    try {
      instance = new wasm.Instance(message.module, program.imports);
    } catch (e) {
      if (e instanceof ProcExit)
        return { kind: OUTCOME.EXIT, exitCode: e.code, message: '', memoryBytes: memoryBytes() };
      return { kind: OUTCOME.INSTANTIATE_FAILED, exitCode: 0, message: describe(e), memoryBytes: memoryBytes() };
    }
    const exported = instance.exports.memory;
    if (!memory && exported instanceof wasm.Memory) {
      memory = exported;
      wasi.bindMemory(memory);
      tern.bindMemory(memory);
    }
    (instance.exports._start as () => void)();
    return { kind: OUTCOME.EXIT, exitCode: 0, message: '', memoryBytes: memoryBytes() };
  } catch (e) {
    if (e instanceof ProcExit) return { kind: OUTCOME.EXIT, exitCode: e.code, message: '', memoryBytes: memoryBytes() };
    if (e instanceof OutputLimitExceeded)
      return {
        kind: OUTCOME.OUTPUT_LIMIT,
        exitCode: 0,
        message: `stdout passed ${e.limit} bytes`,
        memoryBytes: memoryBytes(),
      };
    const refused = instance?.exports[GROW_REFUSED_EXPORT];
    if (refused instanceof wasm.Global && refused.value === 1)
      return { kind: OUTCOME.MEMORY_EXCEEDED, exitCode: 0, message: 'memory.grow refused', memoryBytes: memoryBytes() };
    if (e instanceof wasm.RuntimeError || isStackOverflow(e))
      return { kind: OUTCOME.TRAP, exitCode: 0, message: describe(e), memoryBytes: memoryBytes() };
    return { kind: OUTCOME.INTERNAL, exitCode: 0, message: `host error: ${describe(e)}`, memoryBytes: memoryBytes() };
  }
}

/** Only for modules the grow hook could not be added to: a failure at the cap is a memory failure. */
function attributeToMemory(program: Program, o: Outcome): Outcome {
  if (program.message.instrumented) return o;
  const failed = o.kind === OUTCOME.TRAP || (o.kind === OUTCOME.EXIT && o.exitCode !== 0);
  if (failed && o.memoryBytes >= program.message.capPages * PAGE_BYTES - HEURISTIC_SLACK_BYTES) {
    return {
      ...o,
      kind: OUTCOME.MEMORY_EXCEEDED,
      message: `failed at the memory cap (${o.kind === OUTCOME.TRAP ? o.message : `exit ${o.exitCode}`})`,
    };
  }
  return o;
}

function handleRequest(): number {
  const programId = view.getUint32(REQ.MODULE, true);
  const envCount = view.getUint32(REQ.ENV_COUNT, true);
  const envLen = view.getUint32(REQ.ENV_LEN, true);
  const bodyLen = view.getUint32(REQ.BODY_LEN, true);
  const rootLen = view.getUint32(REQ.ROOT_LEN, true);
  const envStart = REQ.HEADER;
  const bodyStart = envStart + envLen;
  const rootStart = bodyStart + bodyLen;
  const program = programs.get(programId);
  const started = performance.now();
  let outcome: Outcome;
  if (programId === PING_PROGRAM) {
    outcome = { kind: OUTCOME.EXIT, exitCode: 0, message: '', memoryBytes: 0 };
  } else if (!program) {
    outcome = {
      kind: OUTCOME.INTERNAL,
      exitCode: 0,
      message: `module ${programId} was not delivered to this worker`,
      memoryBytes: 0,
    };
  } else {
    const root = rootLen > 0 ? Buffer.from(data.buffer, rootStart, rootLen).toString('utf8') : '';
    try {
      // Copies: the guest must not see the shared buffer change under it, and the response reuses it.
      wasi.begin({
        stdin: data.slice(bodyStart, bodyStart + bodyLen),
        env: data.slice(envStart, envStart + envLen),
        envCount,
        args: program.args,
        argCount: program.message.args.length,
        files: root ? treeFor(root) : null,
      });
      lastProgram = program;
      tern.begin();
      outcome = attributeToMemory(program, run(program));
    } catch (e) {
      outcome = { kind: OUTCOME.INTERNAL, exitCode: 0, message: `host error: ${describe(e)}`, memoryBytes: 0 };
    }
  }
  const runUs = (performance.now() - started) * 1000;
  const len = writeResponse(outcome, runUs);
  wasi.end();
  tern.end();
  return len;
}

function writeResponse(o: Outcome, runUs: number): number {
  const stdout = wasi.stdout.bytes();
  const stderr = wasi.stderr.bytes();
  const message = Buffer.from(o.message);
  const total = RESP.HEADER + stdout.length + stderr.length + message.length;
  if (total > data.length) {
    const sab = new SharedArrayBuffer(bufferSizeFor(total));
    adoptBuffer(sab);
    init.port.postMessage({ type: 'buffer', data: sab });
    Atomics.store(ctrl, CTRL.RESP_NEW_BUFFER, 1);
  }
  view.setUint32(RESP.KIND, o.kind, true);
  view.setInt32(RESP.EXIT_CODE, o.exitCode, true);
  view.setUint32(RESP.STDOUT_LEN, stdout.length, true);
  view.setUint32(RESP.STDERR_LEN, stderr.length, true);
  view.setUint32(RESP.STDERR_DROPPED, wasi.stderr.dropped, true);
  view.setUint32(RESP.MESSAGE_LEN, message.length, true);
  view.setFloat64(RESP.RUN_US, runUs, true);
  view.setFloat64(RESP.MEMORY_BYTES, o.memoryBytes, true);
  let at = RESP.HEADER;
  data.set(stdout, at);
  at += stdout.length;
  data.set(stderr, at);
  at += stderr.length;
  data.set(message, at);
  return total;
}

/** The memory of the call just answered: zeroed for reuse after the answer is out. */
let lastMemory: WasmMemory | undefined;
let lastProgram: Program | undefined;

function recycleMemory(): void {
  const memory = lastMemory;
  const program = lastProgram;
  lastMemory = undefined;
  lastProgram = undefined;
  if (!memory || !program || program.reuseBytes === 0 || programs.get(program.message.id) !== program) return;
  // A memory that grew cannot shrink back: only an untouched-size one is as good as new once zeroed.
  if (memory.buffer.byteLength !== program.reuseBytes) return;
  new Uint8Array(memory.buffer).fill(0);
  program.spare = memory;
  spareHolders.delete(program);
  spareHolders.add(program);
  if (spareHolders.size > MAX_SPARES) {
    const oldest = spareHolders.values().next().value as Program;
    oldest.spare = undefined;
    spareHolders.delete(oldest);
  }
}

/**
 * Waking a thread parked in Atomics.wait costs ~10 µs on a VM (the vCPU halts); a request that
 * follows soon after the last one is caught by a short spin instead.
 */
function nextRequest(seen: number): number {
  let seq = Atomics.load(ctrl, CTRL.REQ_SEQ);
  if (seq !== seen) return seq;
  if (spinner.allowed()) spinner.spin(() => Atomics.load(ctrl, CTRL.REQ_SEQ) !== seen);
  while ((seq = Atomics.load(ctrl, CTRL.REQ_SEQ)) === seen) Atomics.wait(ctrl, CTRL.REQ_SEQ, seen);
  return seq;
}

let seen = 0;
for (;;) {
  const seq = nextRequest(seen);
  seen = seq;
  if (Atomics.exchange(ctrl, CTRL.REQ_MESSAGES, 0) === 1) drainPort();
  const len = handleRequest();
  Atomics.store(ctrl, CTRL.RESP_LEN, len);
  Atomics.store(ctrl, CTRL.RESP_SEQ, seq);
  Atomics.notify(ctrl, CTRL.RESP_SEQ);
  recycleMemory();
}
