/**
 * The guest kernel command line of one instance: the spec's cmdline with %ip, %gateway,
 * %netmask and %callback replaced. Any other "%" is left as written.
 */
import { TernError } from '../../core/errors.js';

export interface GuestNetwork {
  ip: string;
  gateway: string;
  netmask: string;
  /** URL the guest requests once it serves. */
  callback: string;
}

/** x86 Linux's COMMAND_LINE_SIZE (including the terminating NUL). */
export const MAX_CMDLINE_BYTES = 2047;

const PLACEHOLDER = /%(ip|gateway|netmask|callback)\b/g;

export function substituteCmdline(template: string, net: GuestNetwork): string {
  return template.replace(PLACEHOLDER, (_match, key: keyof GuestNetwork) => net[key]);
}

/** Refuse what no guest can take: control characters, or a line over the kernel's limit. */
export function checkCmdline(cmdline: string): void {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(cmdline)) {
    throw new TernError('bad_spec', 'vm.cmdline: must not contain control characters (newlines, tabs)');
  }
  const bytes = Buffer.byteLength(cmdline);
  if (bytes > MAX_CMDLINE_BYTES) {
    throw new TernError(
      'bad_spec',
      `vm.cmdline: ${bytes} bytes after substitution, more than the kernel's ${MAX_CMDLINE_BYTES}`,
    );
  }
}

/** Worst-case values, to check a template's length at deploy time. */
export const LONGEST_NETWORK: GuestNetwork = {
  ip: '255.255.255.255',
  gateway: '255.255.255.255',
  netmask: '255.255.255.255',
  callback: `http://255.255.255.255:65535/ready/${'x'.repeat(80)}/${'0'.repeat(32)}`,
};
