/**
 * The container runtime (`runtime = "container"`): OCI images run by an OCI runtime (crun, runc
 * or runsc, whichever the function names and works here), each instance one container serving
 * HTTP on its port inside a network namespace of its own. Mechanism only: the pool decides when
 * containers start and stop.
 */
import { lstat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type { Logger } from 'pino';
import { TernError } from '../../core/errors.js';
import type { DeployedFunction } from '../../registry/registry.js';
import type { FunctionSpec } from '../../registry/spec.js';
import type { Instance, InstanceOptions, Runtime, RuntimeContext, RuntimeProbe } from '../runtime.js';
import { makeReachable } from './host-paths.js';
import { normalizeRef } from './image-ref.js';
import { ImageStore, type ImageStoreLimits, type PreparedImage } from './image-store.js';
import type { ContainerInstance } from './instance.js';
import { launchContainer } from './launch.js';
import { OCI_RUNTIMES, type OciRuntime, type OciRuntimeName } from './oci-cli.js';
import { describeProbe, probeOciRuntimes, type ProbeResult } from './probe.js';
import { resolveUser } from './run-user.js';

export interface ContainerOptions {
  /** From the runtime's start to the container's first HTTP answer. Default 15 s. */
  readyTimeoutMs?: number;
  /** Bound of each runtime's probe container. Default 15 s. */
  probeTimeoutMs?: number;
  /** Largest response body taken from a container. Default 32 MiB. */
  maxResponseBytes?: number;
  limits?: Partial<ImageStoreLimits>;
}

export const DEFAULT_IMAGE_LIMITS: ImageStoreLimits = {
  archiveBytes: 512 * 1024 * 1024,
  blobBytes: 512 * 1024 * 1024,
  unpackedBytes: 2 * 1024 * 1024 * 1024,
  files: 200_000,
};
const DEFAULT_PORT = 8080;
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

interface PreparedFunction {
  image: PreparedImage;
  oci: OciRuntime;
  uid: number;
  gid: number;
}

function badSpec(message: string): TernError {
  return new TernError('bad_spec', `function.toml: ${message}`);
}

/** The image's environment with the function's `env` over it, and a PATH when neither has one. */
export function containerEnv(image: string[], fn: Record<string, string>): string[] {
  const merged = new Map<string, string>();
  for (const pair of image) {
    const eq = pair.indexOf('=');
    if (eq > 0) merged.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  for (const [k, v] of Object.entries(fn)) merged.set(k, v);
  const env = [...merged].map(([k, v]) => `${k}=${v}`);
  return merged.has('PATH') ? env : [DEFAULT_PATH, ...env];
}

export class ContainerRuntime implements Runtime {
  readonly name = 'container' as const;

  /** Containers, their helpers and their runtime state stay with the control loop. */
  hostedOn(): 'control' {
    return 'control';
  }

  readonly images: ImageStore;
  private readonly logger: Logger;
  private readonly prepared = new Map<string, Promise<PreparedFunction>>();
  private readonly live = new Set<ContainerInstance>();
  private readonly launching = new Set<Promise<ContainerInstance>>();
  private decision: Promise<ProbeResult> | undefined;
  private closed = false;
  private readonly closing = new AbortController();

  constructor(
    private readonly ctx: RuntimeContext,
    private readonly options: ContainerOptions = {},
  ) {
    this.images = new ImageStore(join(ctx.dataDir, 'containers'), { ...DEFAULT_IMAGE_LIMITS, ...options.limits });
    this.logger = ctx.logger.child({ runtime: 'container' });
  }

  async probe(): Promise<RuntimeProbe> {
    const d = await this.decide();
    return { available: d.preferred !== undefined, detail: describeProbe(d) };
  }

  /** Once per node: reap what a dead node left, then find which OCI runtimes work. */
  decide(): Promise<ProbeResult> {
    this.decision ??= (async () => {
      await this.images.open();
      const reach = await Promise.all([
        makeReachable(this.images.rootfs.dir, this.ctx.dataDir),
        makeReachable(join(this.ctx.scratchDir, 'ctr'), this.ctx.scratchDir),
      ]).then(
        () => undefined,
        (e: Error) => e.message,
      );
      if (reach !== undefined) return { verdicts: [], blocker: reach };
      const d = await probeOciRuntimes({
        stateRoot: join(this.ctx.dataDir, 'containers', 'state'),
        scratchDir: join(this.ctx.scratchDir, 'ctr', 'probe'),
        timeoutMs: this.options.probeTimeoutMs ?? 15_000,
        onLine: (runtime, line) => this.logger.debug({ event: 'container_probe', runtime, line }),
        closing: this.closing.signal,
      });
      // Each OCI runtime's verdict (some fail on most hosts) is for debugging; the runtime summary says which is used.
      this.logger.debug({ event: 'container_probe', detail: describeProbe(d) }, `container: ${describeProbe(d)}`);
      return d;
    })();
    return this.decision;
  }

  async prepare(fn: DeployedFunction): Promise<void> {
    await this.preparedOf(fn);
  }

  release(fn: DeployedFunction): void {
    this.prepared.delete(this.key(fn));
    void this.images.rootfs
      .release(fn.dir)
      .then(() => this.images.rootfs.releaseMissingFolders((h) => isAbsolute(h)))
      .catch((e: unknown) => this.logger.warn({ event: 'container_release', err: (e as Error).message }));
  }

  async start(fn: DeployedFunction, o: InstanceOptions): Promise<Instance> {
    if (this.closed) throw new TernError('unavailable', 'the container runtime is shut down');
    const d = await this.decide();
    const p = await this.preparedOf(fn);
    const holder = `instance:${o.id}`;
    this.images.rootfs.hold(p.image.chain, holder);
    const spec = fn.spec;
    const launching = launchContainer({
      id: o.id,
      oci: p.oci,
      layout: d.layout!,
      scratchDir: join(this.ctx.scratchDir, 'ctr'),
      plan: {
        rootfs: p.image.rootfs,
        args: [...p.image.run.entrypoint, ...p.image.run.cmd],
        env: containerEnv(p.image.run.env, spec.env),
        cwd: p.image.run.workingDir,
        uid: p.uid,
        gid: p.gid,
        hostname: spec.name,
      },
      memoryMiB: spec.memory,
      port: spec.container?.port ?? DEFAULT_PORT,
      network: spec.network,
      readyTimeoutMs: this.options.readyTimeoutMs ?? 15_000,
      maxResponseBytes: this.options.maxResponseBytes ?? 32 * 1024 * 1024,
      log: (line, stream) => o.log(line, stream, o.id),
      closing: this.closing.signal,
      released: () => void this.images.rootfs.release(holder).catch(() => undefined),
    });
    this.launching.add(launching);
    const instance = await launching.finally(() => this.launching.delete(launching));
    if (this.closed) {
      await instance.kill();
      throw new TernError('unavailable', 'the container runtime is shut down');
    }
    this.live.add(instance);
    void instance.gone.then(() => this.live.delete(instance));
    return instance;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.closing.abort();
    await Promise.allSettled([...this.launching]);
    await Promise.all([...this.live].map((i) => i.kill()));
    this.live.clear();
    await this.decision?.catch(() => undefined);
    await this.images.close();
  }

  private key(fn: DeployedFunction): string {
    return `${fn.dir}\0${fn.version}`;
  }

  /** Resolved once per version; a failure is not kept, so a fixed node can try again. */
  private preparedOf(fn: DeployedFunction): Promise<PreparedFunction> {
    const key = this.key(fn);
    let p = this.prepared.get(key);
    if (!p) {
      p = this.prepareNow(fn);
      this.prepared.set(key, p);
      p.catch(() => this.prepared.delete(key));
    }
    return p;
  }

  private async prepareNow(fn: DeployedFunction): Promise<PreparedFunction> {
    const spec = fn.spec;
    if (!spec.container) throw badSpec('image: required for runtime "container"');
    const oci = this.chooseRuntime(spec, await this.decide());
    const image = await this.resolveImage(fn, spec.container.image);
    if (image.run.entrypoint.length + image.run.cmd.length === 0)
      throw new TernError('bad_archive', 'image: its config has no Entrypoint or Cmd: nothing to run');
    const { uid, gid } = await resolveUser(image.rootfs, image.run.user);
    return { image, oci, uid, gid };
  }

  private chooseRuntime(spec: FunctionSpec, d: ProbeResult): OciRuntime {
    const asked = spec.container?.runtime;
    if (asked === undefined) {
      if (!d.preferred) throw badSpec(`container.runtime: no OCI runtime works on this node (${describeProbe(d)})`);
      return d.preferred;
    }
    // UniFaaS names gVisor's platform too ("runsc-kvm"); Tern runs runsc with its default platform.
    const name = (asked.startsWith('runsc-') ? 'runsc' : asked) as OciRuntimeName;
    if (!OCI_RUNTIMES.includes(name))
      throw badSpec(`container.runtime: ${JSON.stringify(asked)} is not one of ${OCI_RUNTIMES.join(', ')}`);
    const verdict = d.verdicts.find((v) => v.name === name);
    if (!verdict?.works || !verdict.runtime)
      throw badSpec(
        `container.runtime: "${name}" does not work on this node: ${verdict?.detail ?? d.blocker ?? 'not probed'}`,
      );
    return verdict.runtime;
  }

  /** A file or folder in the function folder, else an image imported under that name. */
  private async resolveImage(fn: DeployedFunction, image: string): Promise<PreparedImage> {
    const inFolder = !isAbsolute(image) && !image.split('/').includes('..');
    const path = join(fn.dir, image);
    if (inFolder && (await lstat(path).catch(() => undefined))) return this.images.fromPath(path, fn.dir);
    const ref = normalizeRef(image);
    const named = ref === undefined ? undefined : await this.images.byName(ref, fn.dir);
    if (named) return named;
    throw badSpec(
      `image: ${JSON.stringify(image)} is neither a file or folder in the function folder nor an image imported on this node${ref ? ` as ${ref} (tern image import FILE ${ref})` : ''}`,
    );
  }
}
