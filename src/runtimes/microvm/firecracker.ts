/**
 * The Firecracker backend ([vm] hypervisor.type = "firecracker"): used only when its binary is on
 * PATH or named by FIRECRACKER_EXE. Firecracker has no user-mode network, so it needs tap mode
 * (microvm.tap = true), and it boots uncompressed ELF kernels (vmlinux), not bzImages.
 */
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { ImageKind } from './image-kind.js';

export async function findFirecracker(env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  const candidates = env.FIRECRACKER_EXE
    ? [env.FIRECRACKER_EXE]
    : (env.PATH ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((d) => join(d, 'firecracker'));
  for (const path of candidates) {
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // Next candidate.
    }
  }
  return undefined;
}

export interface FirecrackerLaunch {
  kernel: string;
  image: string;
  imageKind: ImageKind;
  imageWritable: boolean;
  memoryMiB: number;
  cpus: number;
  cmdline: string;
  tap: string;
}

/** The --config-file document (Firecracker's own JSON schema). */
export function firecrackerConfig(l: FirecrackerLaunch): Record<string, unknown> {
  const bootSource: Record<string, unknown> = { kernel_image_path: l.kernel, boot_args: l.cmdline };
  const drives: Record<string, unknown>[] = [];
  if (l.imageKind.kind === 'initramfs') bootSource.initrd_path = l.image;
  else drives.push({ drive_id: 'root', path_on_host: l.image, is_root_device: true, is_read_only: !l.imageWritable });
  return {
    'boot-source': bootSource,
    drives,
    'machine-config': { vcpu_count: l.cpus, mem_size_mib: l.memoryMiB, smt: false },
    'network-interfaces': [{ iface_id: 'net0', host_dev_name: l.tap }],
  };
}

/** `id` is the VM's marker: it puts it on the command line, as QEMU's -name does. */
export function firecrackerArgs(configPath: string, id: string): string[] {
  return ['--id', id, '--no-api', '--config-file', configPath, '--level', 'Warning'];
}
