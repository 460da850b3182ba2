/**
 * A wasm worker thread: waits on its control buffer, runs one call at a time in a fresh
 * WebAssembly.Instance of an already compiled module, writes the outcome back. It never returns to
 * its event loop; the main thread ends it with worker.terminate() (which also stops a guest stuck
 * in a loop).
 */
import { receiveMessageOnPort, workerData } from 'node:worker_threads';
import { GuestRunner, type GuestOutcome } from './guest.js';
import { bufferSizeFor, CTRL, OUTCOME, PING_PROGRAM, REQ, RESP, type ToWorker, type WorkerInit } from './protocol.js';
import { SpinGovernor } from './spin.js';
import { TernHost } from './tern-imports.js';

const init = workerData as WorkerInit;
const ctrl = new Int32Array(init.ctrl);
let data = new Uint8Array(init.data);
let view = new DataView(init.data);
const spinner = new SpinGovernor(init.spinUs);
/** The `tern` import module (state, chaining): one per worker, bound to each call's memory. */
const tern = new TernHost(ctrl, init.host, init.port, drainPort, init.spinUs);
const guest = new GuestRunner(init.limits, tern);
const wasi = guest.wasi;

function adoptBuffer(sab: SharedArrayBuffer): void {
  data = new Uint8Array(sab);
  view = new DataView(sab);
}

function drainPort(): void {
  for (;;) {
    const received = receiveMessageOnPort(init.port);
    if (!received) return;
    const m = received.message as ToWorker;
    if (m.type === 'program') guest.addProgram(m);
    else if (m.type === 'forget') guest.forget(m.id);
    else if (m.type === 'buffer') adoptBuffer(m.data);
    else tern.receive(m);
  }
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
  const started = performance.now();
  let outcome: GuestOutcome;
  if (programId === PING_PROGRAM) {
    outcome = { kind: OUTCOME.EXIT, exitCode: 0, message: '', memoryBytes: 0 };
  } else {
    const root = rootLen > 0 ? Buffer.from(data.buffer, rootStart, rootLen).toString('utf8') : '';
    // Copies: the guest must not see the shared buffer change under it, and the response reuses it.
    outcome = guest.run({
      programId,
      stdin: data.slice(bodyStart, bodyStart + bodyLen),
      env: data.slice(envStart, envStart + envLen),
      envCount,
      root,
    });
  }
  const runUs = (performance.now() - started) * 1000;
  const len = writeResponse(outcome, runUs);
  return len;
}

function writeResponse(o: GuestOutcome, runUs: number): number {
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
  guest.end();
}
