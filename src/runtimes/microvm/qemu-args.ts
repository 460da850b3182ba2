/**
 * The QEMU command line of one VM on the `microvm` machine: no firmware tables beyond what the
 * kernel needs, virtio-mmio devices, the serial console on stdout, no monitor, no reboot.
 */
import type { ImageKind } from './image-kind.js';

export type Accel = 'kvm' | 'tcg';

export type VmNetwork =
  | {
      mode: 'user';
      /** Host port on 127.0.0.1 forwarded to the guest's HTTP port. */
      hostPort: number;
      guestPort: number;
      /** Where the guest's callback connections land on the host (127.0.0.1:port). */
      callbackHostPort: number;
      /** The address and port the guest calls (a guestfwd rule inside the user-mode network). */
      callbackGuestIp: string;
      callbackGuestPort: number;
      /** true: the guest reaches nothing but the forwards (spec network = false). */
      restrict: boolean;
    }
  | { mode: 'tap'; tap: string };

export interface QemuLaunch {
  /** Unique string on the command line (the VM's name): finds the process, proves a pid is ours. */
  marker: string;
  accel: Accel;
  kernel: string;
  image: string;
  imageKind: ImageKind;
  /** A private copy the guest may write; else the shared image is opened with snapshot=on. */
  imageWritable: boolean;
  memoryMiB: number;
  cpus: number;
  cmdline: string;
  network?: VmNetwork;
}

function netdev(n: VmNetwork): string {
  if (n.mode === 'tap') return `tap,id=net0,ifname=${n.tap},script=no,downscript=no`;
  return [
    'user',
    'id=net0',
    `restrict=${n.restrict ? 'on' : 'off'}`,
    `hostfwd=tcp:127.0.0.1:${n.hostPort}-:${n.guestPort}`,
    `guestfwd=tcp:${n.callbackGuestIp}:${n.callbackGuestPort}-tcp:127.0.0.1:${n.callbackHostPort}`,
  ].join(',');
}

export function qemuArgs(l: QemuLaunch): string[] {
  const args = [
    '-name',
    l.marker,
    '-M',
    `microvm,accel=${l.accel}`,
    ...(l.accel === 'kvm'
      ? ['-cpu', 'host']
      : // Under emulation the guest's clocks (TSC, PIT) drift apart when the host is busy and Linux
        // hangs calibrating them; instruction counting keeps them consistent.
        ['-icount', 'shift=auto']),
    '-m',
    String(l.memoryMiB),
    '-smp',
    String(l.cpus),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-chardev',
    'stdio,id=console,signal=off',
    '-serial',
    'chardev:console',
    '-monitor',
    'none',
    '-kernel',
    l.kernel,
    '-append',
    l.cmdline,
  ];
  if (l.imageKind.kind === 'initramfs') {
    args.push('-initrd', l.image);
  } else {
    const access = l.imageWritable ? '' : ',snapshot=on';
    args.push('-drive', `id=root,if=none,file=${l.image.replace(/,/g, ',,')},format=${l.imageKind.format}${access}`);
    args.push('-device', 'virtio-blk-device,drive=root');
  }
  if (l.network) args.push('-netdev', netdev(l.network), '-device', 'virtio-net-device,netdev=net0');
  return args;
}
