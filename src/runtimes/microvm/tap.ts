/**
 * Optional tap networking (microvm.tap = true; needed by Firecracker, which has no user-mode
 * network): one tap device per instance, named tern<hex>, with a /30 from 10.222.0.0/16 whose
 * first address is the host's and second the guest's. Tern creates it before the VM starts and
 * deletes it when the VM is gone (a leftover is deleted at the next start, from its run record).
 * No forwarding or NAT is set up: the guest reaches the host end only.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { TernError } from '../../core/errors.js';

export interface TapDevice {
  name: string;
  hostIp: string;
  guestIp: string;
  netmask: string;
}

function ip(args: string[]): Promise<string> {
  return new Promise((resolveRun, reject) => {
    execFile('ip', args, { timeout: 10_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`ip ${args.join(' ')}: ${stderr.trim() || error.message}`));
      else resolveRun(stdout);
    });
  });
}

async function freeSubnet(): Promise<[string, string]> {
  const inUse = await ip(['-o', '-4', 'addr', 'show']);
  for (let attempt = 0; attempt < 32; attempt++) {
    const third = randomInt(0, 256);
    const fourth = randomInt(0, 64) * 4;
    const host = `10.222.${third}.${fourth + 1}`;
    const guest = `10.222.${third}.${fourth + 2}`;
    if (!inUse.includes(` ${host}/`) && !inUse.includes(` ${guest}/`)) return [host, guest];
  }
  throw new TernError('unavailable', 'tap: no free /30 in 10.222.0.0/16');
}

export async function createTap(): Promise<TapDevice> {
  const name = `tern${randomBytes(5).toString('hex')}`;
  const [hostIp, guestIp] = await freeSubnet();
  try {
    await ip(['tuntap', 'add', 'dev', name, 'mode', 'tap']);
  } catch (e) {
    throw new TernError(
      'unavailable',
      `tap: cannot create a tap device (needs CAP_NET_ADMIN and /dev/net/tun): ${(e as Error).message}`,
    );
  }
  try {
    await ip(['addr', 'add', `${hostIp}/30`, 'dev', name]);
    await ip(['link', 'set', name, 'up']);
  } catch (e) {
    await removeTap(name);
    throw new TernError('unavailable', `tap: cannot configure ${name}: ${(e as Error).message}`);
  }
  return { name, hostIp, guestIp, netmask: '255.255.255.252' };
}

/** Delete a tap device; one already gone is fine. */
export async function removeTap(name: string): Promise<void> {
  if (!/^tern[0-9a-f]{10}$/.test(name)) return;
  await ip(['link', 'del', name]).catch(() => undefined);
}
