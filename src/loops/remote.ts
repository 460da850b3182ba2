/**
 * The control loop's view of instances that live on edge loops. The pool keeps working with
 * Runtime and Instance as ever: LoopRuntime places each new instance on a loop (the one whose
 * call asked for it, when there is one) and hands the pool a RemoteInstance whose calls, stop and
 * kill travel to that loop.
 */
import { TernError } from '../core/errors.js';
import type { Invocation } from '../core/invocation.js';
import type { Response } from '../core/result.js';
import type { DeployedFunction } from '../registry/registry.js';
import type { Instance, InstanceOptions, Runtime, RuntimeProbe } from '../runtimes/runtime.js';
import type { Channel } from './channel.js';
import type { ControlApi, EdgeApi, LoopId } from './protocol.js';
import { invocationToWire, responseFromWire } from './wire.js';

export interface EdgeLink {
  readonly id: LoopId;
  readonly channel: Channel<ControlApi, EdgeApi>;
}

export class RemoteInstance implements Instance {
  private readonly exitListeners: ((reason: string) => void)[] = [];
  private gone = false;

  constructor(
    readonly id: string,
    private readonly link: EdgeLink,
    /** Called once when the instance is gone, whichever way. */
    private readonly forgotten: (id: string) => void,
  ) {}

  get home(): LoopId {
    return this.link.id;
  }

  async call(inv: Invocation, signal: AbortSignal): Promise<Response> {
    if (signal.aborted) throw new TernError('unavailable', `instance ${this.id} was stopped`);
    const onAbort = () => this.link.channel.notify('kill', { instance: this.id });
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return responseFromWire(await this.link.channel.call('call', { instance: this.id, inv: invocationToWire(inv) }));
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async stop(): Promise<void> {
    this.leave();
    await this.link.channel.call('stop', { instance: this.id }).catch(() => undefined);
  }

  async kill(): Promise<void> {
    this.leave();
    await this.link.channel.call('kill', { instance: this.id }).catch(() => undefined);
  }

  onExit(listener: (reason: string) => void): void {
    this.exitListeners.push(listener);
  }

  /** Its loop says it died on its own. */
  exited(reason: string): void {
    if (this.gone) return;
    this.leave();
    for (const l of this.exitListeners) l(reason);
  }

  private leave(): void {
    if (this.gone) return;
    this.gone = true;
    this.forgotten(this.id);
  }
}

export interface Placement {
  /** The loop for a new instance; `hint` is the loop whose call asked for it. */
  pick(hint: LoopId | undefined): EdgeLink;
  /** Every loop (a version released everywhere). */
  all(): EdgeLink[];
  /** Track a remote instance until it is gone (for exit notices). */
  track(instance: RemoteInstance): void;
  /** It is gone. */
  forget(id: string): void;
}

/** A runtime whose instances live on edge loops, unless it keeps them on the control loop. */
export class LoopRuntime implements Runtime {
  readonly name: Runtime['name'];
  readonly freshPerCall: boolean;

  constructor(
    private readonly local: Runtime,
    private readonly placement: Placement,
  ) {
    this.name = local.name;
    this.freshPerCall = local.freshPerCall === true;
  }

  probe(): Promise<RuntimeProbe> {
    return this.local.probe();
  }

  prepare(fn: DeployedFunction): Promise<void> {
    return this.local.prepare(fn);
  }

  async checkLoads(fn: DeployedFunction): Promise<void> {
    await this.local.checkLoads?.(fn);
  }

  release(fn: DeployedFunction): void {
    this.local.release(fn);
    for (const link of this.placement.all()) link.channel.notify('release', { fn });
  }

  async start(fn: DeployedFunction, options: InstanceOptions): Promise<Instance> {
    if (this.local.hostedOn?.(fn) === 'control') return this.local.start(fn, options);
    const link = this.placement.pick(options.placement);
    await link.channel.call('start', { fn, runtime: this.name, instance: options.id });
    const instance = new RemoteInstance(options.id, link, (id) => this.placement.forget(id));
    this.placement.track(instance);
    return instance;
  }

  close(): Promise<void> {
    return this.local.close();
  }
}
