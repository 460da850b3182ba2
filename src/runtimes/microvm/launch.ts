/**
 * Starting one VM, from spec to an instance that called back: network, scratch folder, the
 * hypervisor process, and the wait for the readiness callback, bounded by a deadline.
 * Whatever fails on the way is undone: no process, tap device, folder or record stays behind.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { copyFile, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { formatDuration } from '../../core/duration.js';
import { TernError } from '../../core/errors.js';
import type { FunctionSpec } from '../../registry/spec.js';
import type { InstanceOptions } from '../runtime.js';
import type { CallbackServer } from './callback-server.js';
import { checkCmdline, substituteCmdline, type GuestNetwork } from './cmdline.js';
import { firecrackerArgs, firecrackerConfig, type FirecrackerLaunch } from './firecracker.js';
import { freeLoopbackPort } from './free-port.js';
import { MicrovmInstance } from './instance.js';
import { qemuArgs, type Accel, type VmNetwork } from './qemu-args.js';
import type { RunRecords } from './run-records.js';
import { createTap, removeTap, type TapDevice } from './tap.js';
import type { VmFiles } from './vm-files.js';
import { VmProcess } from './vm-process.js';

/** Inside QEMU's user-mode network: the guest's address, its gateway, and where the callback is forwarded. */
export const USER_NET = {
  ip: '10.0.2.15',
  gateway: '10.0.2.2',
  netmask: '255.255.255.0',
  callbackIp: '10.0.2.100',
  callbackPort: 80,
} as const;

export interface LaunchContext {
  qemu: string;
  firecracker?: string;
  accel: Accel;
  tap: boolean;
  guestPort: number;
  readyTimeoutMs: number;
  maxResponseBytes: number;
  callbacks: CallbackServer;
  records: RunRecords;
  /** Aborts when the runtime closes: a VM still booting is killed. */
  closing: AbortSignal;
}

/** QEMU lost the race for the host port picked for its forward: try another port. */
const PORT_RACE = /Could not set up host forwarding rule/;
const PORT_ATTEMPTS = 3;

/** Letters, digits and "-", at most 62 characters: also valid as Firecracker's --id. */
function markerFor(id: string): string {
  return `tern-vm-${id.replace(/[^A-Za-z0-9-]/g, '-').slice(0, 40)}-${randomBytes(6).toString('hex')}`;
}

/** Start one VM and wait for its callback. */
export async function launchVm(
  ctx: LaunchContext,
  spec: FunctionSpec,
  files: VmFiles,
  o: InstanceOptions,
): Promise<MicrovmInstance> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await launchOnce(ctx, spec, files, o);
    } catch (e) {
      if (e instanceof PortRace && attempt < PORT_ATTEMPTS) continue;
      throw e instanceof PortRace ? new TernError('function_crashed', e.message) : e;
    }
  }
}

class PortRace extends Error {}

/** What a launch holds that cleanup must release, filled in as the launch goes. */
interface HeldResources {
  tap?: TapDevice;
  closeTapListener?: () => Promise<void>;
}

/** How the guest is wired: its addresses (for the cmdline), QEMU's network, and where to reach it. */
interface GuestWiring {
  net: GuestNetwork;
  network: VmNetwork;
  guest: { host: string; port: number };
}

async function launchOnce(
  ctx: LaunchContext,
  spec: FunctionSpec,
  files: VmFiles,
  o: InstanceOptions,
): Promise<MicrovmInstance> {
  const vmSpec = spec.vm!;
  const firecracker = vmSpec.hypervisor === 'firecracker';
  const marker = markerFor(o.id);
  const workDir = join(o.scratchRoot, marker);
  const token = randomBytes(16).toString('hex');
  const held: HeldResources = {};
  let vm: VmProcess | undefined;

  const cleanup = async (): Promise<void> => {
    ctx.callbacks.forget(o.id);
    await held.closeTapListener?.();
    if (held.tap) await removeTap(held.tap.name);
    await rm(workDir, { recursive: true, force: true });
    await ctx.records.remove(marker);
  };

  try {
    await mkdir(workDir, { recursive: true });
    const { image, writable } = await prepareImage(files, vmSpec.copyRootfs, workDir);

    let ready: () => void = () => {};
    const called = new Promise<void>((r) => (ready = r));
    const callbackPath = ctx.callbacks.expect(o.id, token, () => ready());

    const wiring =
      ctx.tap || firecracker
        ? await tapWiring(ctx, marker, callbackPath, held)
        : await userWiring(ctx, spec, callbackPath);
    const cmdline = substituteCmdline(vmSpec.cmdline, wiring.net);
    checkCmdline(cmdline);

    const machine: MachineSpec = {
      kernel: files.kernel,
      image,
      imageKind: files.imageKind,
      imageWritable: writable,
      memoryMiB: spec.memory,
      cpus: vmSpec.cpus,
      cmdline,
    };
    const { command, args } = firecracker
      ? await firecrackerCommand(ctx, machine, held.tap!, workDir, marker)
      : { command: ctx.qemu, args: qemuArgs({ ...machine, marker, accel: ctx.accel, network: wiring.network }) };

    const started = performance.now();
    vm = await VmProcess.spawn({
      command,
      args,
      // QEMU puts snapshot=on overlays in TMPDIR: keep them in the instance's folder.
      env: { ...process.env, TMPDIR: workDir },
      cwd: workDir,
      onLine: (line, stream) => o.log(line, stream, o.id),
    });
    await ctx.records.write({ pid: vm.pid, marker, ...(held.tap ? { tap: held.tap.name } : {}) });
    await awaitCallback(ctx, vm, called, started);
    return new MicrovmInstance({
      id: o.id,
      marker,
      accel: firecracker ? 'firecracker' : ctx.accel,
      vm,
      guest: wiring.guest,
      guestPort: ctx.guestPort,
      maxResponseBytes: ctx.maxResponseBytes,
      cleanup,
    });
  } catch (e) {
    await vm?.kill();
    await cleanup();
    throw e;
  }
}

/** The disk the VM boots from: the shared image, or a private copy when the spec asks for a writable root. */
async function prepareImage(
  files: VmFiles,
  copyRootfs: boolean,
  workDir: string,
): Promise<{ image: string; writable: boolean }> {
  const writable = copyRootfs && files.imageKind.kind === 'disk';
  if (!writable) return { image: files.image, writable };
  const image = join(workDir, 'rootfs');
  await copyFile(files.image, image, fsConstants.COPYFILE_FICLONE);
  return { image, writable };
}

/** A tap device per VM, with the callback listener on the host's side of it. */
async function tapWiring(
  ctx: LaunchContext,
  marker: string,
  callbackPath: string,
  held: HeldResources,
): Promise<GuestWiring> {
  const tap = await createTap();
  held.tap = tap;
  // The record goes down before anything else can be left behind.
  await ctx.records.write({ pid: 0, marker, tap: tap.name });
  const listener = await ctx.callbacks.listen(tap.hostIp);
  held.closeTapListener = listener.close;
  return {
    net: {
      ip: tap.guestIp,
      gateway: tap.hostIp,
      netmask: tap.netmask,
      callback: `http://${tap.hostIp}:${listener.port}${callbackPath}`,
    },
    network: { mode: 'tap', tap: tap.name },
    guest: { host: tap.guestIp, port: ctx.guestPort },
  };
}

/** QEMU's user-mode network: the guest's port forwarded from a free loopback port. */
async function userWiring(ctx: LaunchContext, spec: FunctionSpec, callbackPath: string): Promise<GuestWiring> {
  const hostPort = await freeLoopbackPort();
  return {
    net: {
      ip: USER_NET.ip,
      gateway: USER_NET.gateway,
      netmask: USER_NET.netmask,
      callback: `http://${USER_NET.callbackIp}${callbackPath}`,
    },
    network: {
      mode: 'user',
      hostPort,
      guestPort: ctx.guestPort,
      callbackHostPort: await ctx.callbacks.loopbackPort(),
      callbackGuestIp: USER_NET.callbackIp,
      callbackGuestPort: USER_NET.callbackPort,
      restrict: !spec.network,
    },
    guest: { host: '127.0.0.1', port: hostPort },
  };
}

/** The machine both hypervisors boot: everything but the network. */
type MachineSpec = Omit<FirecrackerLaunch, 'tap'>;

/** Firecracker reads the machine from a JSON file in the instance's folder. */
async function firecrackerCommand(
  ctx: LaunchContext,
  machine: MachineSpec,
  tap: TapDevice,
  workDir: string,
  marker: string,
): Promise<{ command: string; args: string[] }> {
  const configPath = join(workDir, 'firecracker.json');
  await writeFile(configPath, JSON.stringify(firecrackerConfig({ ...machine, tap: tap.name })));
  return { command: ctx.firecracker!, args: firecrackerArgs(configPath, marker) };
}

/** Wait for the guest's callback, failing clearly if the VM exits, is late, or the runtime closes. */
async function awaitCallback(
  ctx: LaunchContext,
  running: VmProcess,
  called: Promise<void>,
  started: number,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let onClose: () => void = () => {};
  const outcome = await Promise.race([
    called.then(() => 'ready' as const),
    running.exited.then((how) => ({ exited: how })),
    new Promise<'late'>(
      (r) => (timer = setTimeout(() => r('late'), Math.max(0, ctx.readyTimeoutMs - (performance.now() - started)))),
    ),
    new Promise<'closing'>((r) => {
      onClose = () => r('closing');
      if (ctx.closing.aborted) onClose();
      else ctx.closing.addEventListener('abort', onClose, { once: true });
    }),
  ]);
  clearTimeout(timer);
  ctx.closing.removeEventListener('abort', onClose);
  if (outcome === 'closing' || ctx.closing.aborted)
    throw new TernError('unavailable', 'the microvm runtime shut down while the VM was booting');
  if (outcome === 'late') {
    throw new TernError(
      'function_crashed',
      `VM did not call back within ${formatDuration(ctx.readyTimeoutMs)} (accel ${ctx.accel}; see the function's logs for its console)`,
    );
  }
  if (outcome !== 'ready') {
    const stderr = running.stderrSummary();
    if (PORT_RACE.test(stderr)) throw new PortRace(`QEMU could not forward a host port: ${stderr}`);
    throw new TernError(
      'function_crashed',
      `VM exited before calling back (${outcome.exited})${stderr ? `: ${stderr}` : ''}`,
    );
  }
}
