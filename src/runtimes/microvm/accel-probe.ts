/**
 * Which accelerator VMs get. /dev/kvm opening proves little (on some hosts KVM guests abort or
 * hang after the firmware), so "kvm" is chosen only after a bounded test boot under KVM of a real
 * kernel with a tiny initramfs prints its marker on the serial console; otherwise emulation (tcg).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, constants, open, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { qemuArgs, type Accel } from './qemu-args.js';
import { probeInitramfs } from './probe-image.js';
import { VmProcess } from './vm-process.js';

export type AccelMode = 'auto' | 'kvm' | 'tcg';

export type AccelDecision = { available: true; accel: Accel; detail: string } | { available: false; detail: string };

export interface AccelProbeOptions {
  mode: AccelMode;
  qemu: string;
  /** Kernel for the KVM test boot; default: the newest readable /boot/vmlinuz-*, else /vmlinuz. */
  kernel?: string;
  scratchDir: string;
  timeoutMs: number;
  /** Console and stderr lines of the test boot (debug logging). */
  onLine?(line: string): void;
}

/** The probe guest's memory: the Debian cloud kernel does not boot in 64 MiB. */
const PROBE_MEMORY_MIB = 128;

export function qemuVersion(qemu: string): Promise<string> {
  return new Promise((resolveVersion, reject) => {
    execFile(qemu, ['--version'], { timeout: 10_000 }, (error, stdout) => {
      if (error)
        reject(
          new Error(
            `${qemu} does not run (${(error as NodeJS.ErrnoException).code ?? error.message}); install qemu-system-x86`,
          ),
        );
      else resolveVersion(stdout.split('\n')[0]!.trim());
    });
  });
}

async function readable(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

export async function findProbeKernel(): Promise<string | undefined> {
  const boot = await readdir('/boot').catch(() => [] as string[]);
  const kernels = boot
    .filter((n) => n.startsWith('vmlinuz-'))
    .sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))
    .map((n) => join('/boot', n));
  for (const k of [...kernels, '/vmlinuz']) if (await readable(k)) return k;
  return undefined;
}

async function kvmDeviceProblem(): Promise<string | undefined> {
  try {
    const handle = await open('/dev/kvm', 'r+');
    await handle.close();
    return undefined;
  } catch (e) {
    return `/dev/kvm: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
}

/** The first line of QEMU's complaint, without the program name. */
function firstError(stderr: string): string {
  const first = stderr
    .split(' | ')[0]
    ?.replace(/^[\w./-]*qemu-system-[\w]+: /, '')
    .trim();
  return first ? `: ${first}` : '';
}

/** Boot `kernel` under KVM; undefined when the marker appeared, else why not. */
export async function kvmTestBoot(o: AccelProbeOptions & { kernel: string }): Promise<string | undefined> {
  const marker = `TERN-KVM-PROBE-${randomBytes(6).toString('hex')}`;
  await mkdir(o.scratchDir, { recursive: true });
  const initrd = join(o.scratchDir, `${marker}.cpio`);
  await writeFile(initrd, probeInitramfs(marker));
  let sawMarker: () => void = () => {};
  const seen = new Promise<void>((r) => (sawMarker = r));
  let vm: VmProcess | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    vm = await VmProcess.spawn({
      command: o.qemu,
      args: qemuArgs({
        marker: `tern-vm-probe-${marker}`,
        accel: 'kvm',
        kernel: o.kernel,
        image: initrd,
        imageKind: { kind: 'initramfs' },
        imageWritable: false,
        memoryMiB: PROBE_MEMORY_MIB,
        cpus: 1,
        cmdline: 'console=ttyS0 quiet panic=-1',
      }),
      onLine: (line) => {
        o.onLine?.(line);
        if (line.includes(marker)) sawMarker();
      },
    });
    const running = vm;
    const outcome = await Promise.race([
      seen.then(() => undefined),
      running.exited.then((how) => `QEMU ended (${how}) before the guest ran${firstError(running.stderrSummary())}`),
      new Promise<string>(
        (r) =>
          (timer = setTimeout(
            () => r(`no guest output within ${Math.round(o.timeoutMs / 1000)}s of the test boot`),
            o.timeoutMs,
          )),
      ),
    ]);
    return outcome;
  } catch (e) {
    return (e as Error).message;
  } finally {
    clearTimeout(timer);
    await vm?.kill();
    await rm(initrd, { force: true });
  }
}

export async function decideAccel(o: AccelProbeOptions): Promise<AccelDecision> {
  try {
    await qemuVersion(o.qemu);
  } catch (e) {
    return { available: false, detail: (e as Error).message };
  }
  if (o.mode === 'tcg') return { available: true, accel: 'tcg', detail: 'tcg (configured)' };
  const deviceProblem = await kvmDeviceProblem();
  if (deviceProblem) {
    return o.mode === 'kvm'
      ? { available: false, detail: `kvm configured but ${deviceProblem}` }
      : { available: true, accel: 'tcg', detail: `tcg (${deviceProblem})` };
  }
  const kernel = o.kernel ?? (await findProbeKernel());
  if (!kernel) {
    return o.mode === 'kvm'
      ? { available: true, accel: 'kvm', detail: 'kvm (configured; untested: no kernel for a test boot)' }
      : { available: true, accel: 'tcg', detail: 'tcg (no kernel to test KVM with; install linux-image-cloud-amd64)' };
  }
  const problem = await kvmTestBoot({ ...o, kernel });
  if (problem === undefined) return { available: true, accel: 'kvm', detail: 'kvm' };
  const why = `KVM test boot failed: ${problem}`;
  return o.mode === 'kvm'
    ? { available: false, detail: `kvm configured but ${why}` }
    : { available: true, accel: 'tcg', detail: `tcg (${why})` };
}
