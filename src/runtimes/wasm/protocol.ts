/**
 * The wire between the node's main thread and a wasm worker. A call is not a postMessage: the
 * request and response live in a SharedArrayBuffer and the two sides hand it back and forth with
 * Atomics (a few µs instead of ~45 µs for a postMessage round trip). postMessage on a private
 * MessagePort carries only the rare things: a compiled module (once per worker), a bigger buffer,
 * a module to forget. The receiver drains that port synchronously (receiveMessageOnPort) before
 * reading a request or response, so ordering holds without an event loop.
 */

import type { HostMessage } from './host-wire.js';
import type { WasmModule } from './wasm-api.js';
import type { MessagePort } from 'node:worker_threads';

/** Int32 slots of the control buffer. */
export const CTRL = {
  /** Main increments it to post a request; the worker waits on it. */
  REQ_SEQ: 0,
  /** The worker sets it to the request's seq when the response is ready; main waits on it. */
  RESP_SEQ: 1,
  REQ_LEN: 2,
  RESP_LEN: 3,
  /** 1 when the worker posted a new data buffer that holds the response. */
  RESP_NEW_BUFFER: 4,
  /** 1 when main posted messages the worker must drain before the request (saves a port read per call). */
  REQ_MESSAGES: 5,
  /** The `tern` imports (host-wire.ts): the worker's latest host request number. */
  HOST_SEQ: 6,
  /** Main sets it to HOST_SEQ when the reply is in the host buffer; the worker waits on it. */
  HOST_DONE: 7,
  /** 1 when main posted messages (a host buffer, a state segment) the worker must drain before reading the reply. */
  HOST_MESSAGES: 8,
  /** 1 when the worker posted a bigger host buffer that holds the request. */
  HOST_FROM_WORKER: 9,
} as const;
export const CTRL_BYTES = 64;
export const INITIAL_DATA_BYTES = 256 * 1024;

/** Request header (u32 each), then env, body, files root (utf8). Module 0 is a ping: no guest runs. */
export const PING_PROGRAM = 0;
export const REQ = { MODULE: 0, ENV_COUNT: 4, ENV_LEN: 8, BODY_LEN: 12, ROOT_LEN: 16, HEADER: 20 } as const;

/** Response header, then stdout, stderr, message (utf8). */
export const RESP = {
  KIND: 0,
  EXIT_CODE: 4,
  STDOUT_LEN: 8,
  STDERR_LEN: 12,
  STDERR_DROPPED: 16,
  MESSAGE_LEN: 20,
  RUN_US: 24,
  MEMORY_BYTES: 32,
  HEADER: 40,
} as const;

export const OUTCOME = {
  /** The guest returned from _start or called proc_exit. */
  EXIT: 0,
  TRAP: 1,
  MEMORY_EXCEEDED: 2,
  OUTPUT_LIMIT: 3,
  /** Instantiation failed (link error, start function trapped). */
  INSTANTIATE_FAILED: 4,
  /** A fault in the host (a bug here, not in the guest). */
  INTERNAL: 5,
} as const;
export type OutcomeKind = (typeof OUTCOME)[keyof typeof OUTCOME];

/** What a worker needs to run a module: sent once per worker. */
export interface ProgramMessage {
  type: 'program';
  id: number;
  module: WasmModule;
  args: string[];
  capPages: number;
  instrumented: boolean;
  /** Set when the module imports its memory. */
  memoryImport?: { module: string; name: string; initial: number; shared: boolean };
  /** A preemptible variant whose instance may be kept and reset between calls (preempt.ts): its mutable globals' exports. */
  reset?: { globals: string[] };
}

export type ToWorker =
  ProgramMessage | { type: 'forget'; id: number } | { type: 'buffer'; data: SharedArrayBuffer } | HostMessage;
export type FromWorker = { type: 'buffer'; data: SharedArrayBuffer } | HostMessage;

export interface WorkerInit {
  ctrl: SharedArrayBuffer;
  data: SharedArrayBuffer;
  /** The host buffer of the `tern` imports (host-wire.ts). */
  host: SharedArrayBuffer;
  port: MessagePort;
  limits: { stdout: number; stderr: number };
  /** How long an idle worker spins for the next request before it parks, µs. */
  spinUs: number;
}

/** The next power of two ≥ n (buffers grow in steps, not per byte). */
export function bufferSizeFor(n: number): number {
  let size = INITIAL_DATA_BYTES;
  while (size < n) size *= 2;
  return size;
}
