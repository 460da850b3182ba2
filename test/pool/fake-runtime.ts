/**
 * An in-test fake of OUR Runtime interface (not of any real runtime): instances that answer
 * through a per-function handler the test controls (gates, crashes, hangs), plus a recording
 * Telemetry whose events can be awaited.
 */
import { TernError } from '../../src/core/errors.js';
import type { Invocation } from '../../src/core/invocation.js';
import type { Response } from '../../src/core/result.js';
import type { InstanceStopReason, RejectReason, Telemetry } from '../../src/core/telemetry.js';
import type { Result } from '../../src/core/result.js';
import type { DeployedFunction } from '../../src/registry/registry.js';
import type { FunctionSpec, RuntimeName } from '../../src/registry/spec.js';
import type { Instance, InstanceOptions, Runtime, RuntimeProbe } from '../../src/runtimes/runtime.js';

export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(e: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export type CallHandler = (
  inv: Invocation,
  instance: FakeInstance,
  signal: AbortSignal,
) => Promise<Response> | Response;

export interface FakeBehaviour {
  /** Default: 200 with the instance id as body. */
  call?: CallHandler;
  /** Awaited before an instance is up. */
  start?: (fn: DeployedFunction, id: string) => Promise<void> | void;
}

export function ok(body: string): Response {
  return { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from(body) };
}

export class FakeInstance implements Instance {
  calls = 0;
  inflight = 0;
  stoppedBy: 'stop' | 'kill' | undefined;
  private readonly exitListeners: ((reason: string) => void)[] = [];

  constructor(
    readonly id: string,
    readonly fn: DeployedFunction,
    private readonly runtime: FakeRuntime,
  ) {}

  async call(inv: Invocation, signal: AbortSignal): Promise<Response> {
    if (this.stoppedBy) throw new TernError('function_crashed', `instance ${this.id} is stopped`);
    this.calls++;
    this.inflight++;
    this.runtime.emit({ type: 'call', instance: this, inv });
    try {
      const handler = this.runtime.behaviour(this.fn.spec.name).call;
      return handler ? await handler(inv, this, signal) : ok(this.id);
    } finally {
      this.inflight--;
    }
  }

  async stop(): Promise<void> {
    this.stoppedBy ??= 'stop';
  }

  async kill(): Promise<void> {
    this.stoppedBy ??= 'kill';
  }

  onExit(listener: (reason: string) => void): void {
    this.exitListeners.push(listener);
  }

  /** The instance dies on its own (process exit, VM gone). */
  die(reason: string): void {
    this.stoppedBy ??= 'kill';
    for (const l of this.exitListeners) l(reason);
  }
}

export type FakeEvent =
  { type: 'start'; instance: FakeInstance } | { type: 'call'; instance: FakeInstance; inv: Invocation };

export class FakeRuntime implements Runtime {
  readonly name: RuntimeName = 'wasm';
  readonly instances: FakeInstance[] = [];
  readonly released: string[] = [];
  private readonly behaviours = new Map<string, FakeBehaviour>();
  private readonly listeners = new Set<(e: FakeEvent) => void>();

  set(fn: string, behaviour: FakeBehaviour): void {
    this.behaviours.set(fn, behaviour);
  }

  behaviour(fn: string): FakeBehaviour {
    return this.behaviours.get(fn) ?? {};
  }

  /** Instances not stopped. */
  alive(fn?: string): FakeInstance[] {
    return this.instances.filter((i) => !i.stoppedBy && (fn === undefined || i.fn.spec.name === fn));
  }

  async probe(): Promise<RuntimeProbe> {
    return { available: true };
  }

  async prepare(): Promise<void> {}

  release(fn: DeployedFunction): void {
    this.released.push(`${fn.spec.name}@${fn.version}`);
  }

  async start(fn: DeployedFunction, options: InstanceOptions): Promise<Instance> {
    await this.behaviour(fn.spec.name).start?.(fn, options.id);
    const instance = new FakeInstance(options.id, fn, this);
    this.instances.push(instance);
    this.emit({ type: 'start', instance });
    return instance;
  }

  async close(): Promise<void> {}

  emit(e: FakeEvent): void {
    for (const l of this.listeners) l(e);
  }

  /** Resolves with the first event (from now on) that matches. */
  next(match: (e: FakeEvent) => boolean): Promise<FakeEvent> {
    return new Promise((resolve) => {
      const listener = (e: FakeEvent) => {
        if (!match(e)) return;
        this.listeners.delete(listener);
        resolve(e);
      };
      this.listeners.add(listener);
    });
  }

  /** Resolves once `n` calls of `fn` have entered instances (counting from now). */
  callsEntered(fn: string, n: number): Promise<void> {
    let seen = 0;
    return this.next((e) => e.type === 'call' && e.inv.function === fn && ++seen === n).then(() => undefined);
  }
}

export type TelemetryEvent =
  | { type: 'completed'; fn: string; result: Result }
  | { type: 'rejected'; fn: string; reason: RejectReason }
  | { type: 'started'; fn: string; instance: string }
  | { type: 'stopped'; fn: string; instance: string; reason: InstanceStopReason; detail?: string }
  | { type: 'offloaded'; fn: string; target: string }
  | { type: 'function'; fn: string; event: string };

export class RecordingTelemetry implements Telemetry {
  readonly events: TelemetryEvent[] = [];
  private readonly waiters: { match: (e: TelemetryEvent) => boolean; resolve: (e: TelemetryEvent) => void }[] = [];

  callCompleted(inv: Invocation, result: Result): void {
    this.push({ type: 'completed', fn: inv.function, result });
  }
  callRejected(fn: string, reason: RejectReason): void {
    this.push({ type: 'rejected', fn, reason });
  }
  instanceStarted(fn: string, instance: string): void {
    this.push({ type: 'started', fn, instance });
  }
  instanceStopped(fn: string, instance: string, reason: InstanceStopReason, detail?: string): void {
    this.push({ type: 'stopped', fn, instance, reason, ...(detail !== undefined ? { detail } : {}) });
  }
  offloaded(fn: string, target: string): void {
    this.push({ type: 'offloaded', fn, target });
  }
  functionEvent(fn: string, event: string): void {
    this.push({ type: 'function', fn, event });
  }

  of<T extends TelemetryEvent['type']>(type: T): Extract<TelemetryEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<TelemetryEvent, { type: T }> => e.type === type);
  }

  /**
   * Resolves when `count` events (past or future) match. The guard timer fails a test that would
   * otherwise hang, and keeps the event loop alive meanwhile (the pool's own timers are unref'd).
   */
  waitFor(match: (e: TelemetryEvent) => boolean, count = 1, guardMs = 20_000): Promise<void> {
    return new Promise((resolve, reject) => {
      let seen = this.events.filter(match).length;
      if (seen >= count) return resolve();
      const timer = setTimeout(
        () => reject(new Error(`telemetry: expected event not seen within ${guardMs}ms`)),
        guardMs,
      );
      this.waiters.push({
        match: (e) => match(e) && ++seen >= count,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }

  private push(e: TelemetryEvent): void {
    this.events.push(e);
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.match(e)) {
        this.waiters.splice(i, 1);
        w.resolve(e);
      }
    }
  }
}

export function specOf(name: string, overrides: Partial<FunctionSpec> = {}): FunctionSpec {
  return {
    name,
    runtime: 'wasm',
    handler: 'main.wasm',
    memory: 64,
    timeoutMs: 10_000,
    concurrentRequests: 1,
    singleUse: false,
    keepaliveMs: 60_000,
    minInstances: 0,
    maxInstances: 8,
    env: {},
    network: false,
    files: false,
    private: false,
    idempotent: false,
    triggers: { coap: [], mqtt: [], schedule: [] },
    ...overrides,
  };
}

export function deployedOf(name: string, overrides: Partial<FunctionSpec> = {}, version = 'v1'): DeployedFunction {
  return {
    spec: specOf(name, overrides),
    dir: `/nonexistent/${name}/${version}`,
    version,
    deployedAt: new Date().toISOString(),
  };
}
