/** The probe's initramfs, made in memory: /dev/console and the tiny marker-printing /init. */
import { writeCpio } from './cpio.js';
import { tinyInitElf } from './tiny-init.js';

export function probeInitramfs(marker: string): Buffer {
  return writeCpio([
    { kind: 'dir', path: 'dev' },
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: 'init', data: tinyInitElf(`${marker}\n`), mode: 0o755 },
  ]);
}
