/**
 * The sandbox's /etc: a small folder built once per node on the stage, never the host's /etc. It
 * holds what interpreters and libc look for (users, hosts, the loader cache) and, only for
 * functions with network access, DNS (the user-mode network's resolver) and CA certificates. Folders of links (alternatives, certificates) are
 * bound read-only from the host rather than copied: link-heavy copies are slow on some disks.
 */
import { copyFile, lstat, mkdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Bind } from './sandbox.js';
import { SANDBOX_NAMESERVER } from './sandbox-network.js';
import { SANDBOX_GID, SANDBOX_UID } from './uids.js';

// Inside its user namespace a function is "function"; files of unmapped host users show as nobody.
const PASSWD =
  'root:x:0:0:root:/root:/usr/sbin/nologin\n' +
  `function:x:${SANDBOX_UID}:${SANDBOX_GID}:function:/tmp:/usr/sbin/nologin\n` +
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n';
const GROUP = `root:x:0:\nfunction:x:${SANDBOX_GID}:\nnogroup:x:65534:\n`;
const HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
const NSSWITCH =
  'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n';

/** Host files copied (a symlink stays a symlink: they point into /usr). */
const COPIED = ['ld.so.cache', 'localtime', 'os-release', 'protocols', 'services', 'mime.types'];
/** Host folders bound read-only in place. */
const BOUND = ['alternatives'];
/** Only with network = true (never ssl/private: host keys stay on the host). */
const COPIED_ONLINE = ['ssl/openssl.cnf', 'ca-certificates.conf', 'gai.conf'];
const BOUND_ONLINE = ['ssl/certs'];

export interface EtcView {
  /** Bound read-only at /etc. */
  dir: string;
  /** Host folders bound on top of it. */
  binds: Bind[];
}

async function copyIfPresent(name: string, into: string): Promise<void> {
  const source = join('/etc', name);
  const info = await lstat(source).catch(() => undefined);
  if (!info || !(info.isFile() || info.isSymbolicLink())) return;
  const target = join(into, name);
  await mkdir(dirname(target), { recursive: true, mode: 0o755 });
  if (info.isSymbolicLink()) await symlink(await readlink(source), target);
  else await copyFile(source, target);
}

async function mountPoint(name: string, into: string): Promise<Bind | undefined> {
  const source = join('/etc', name);
  if (!(await lstat(source).catch(() => undefined))?.isDirectory()) return undefined;
  await mkdir(join(into, name), { recursive: true, mode: 0o755 });
  return { host: source, sandbox: join('/etc', name) };
}

async function buildView(dir: string, withNetwork: boolean): Promise<EtcView> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await writeFile(join(dir, 'passwd'), PASSWD, { mode: 0o644 });
  await writeFile(join(dir, 'group'), GROUP, { mode: 0o644 });
  await writeFile(join(dir, 'hosts'), HOSTS, { mode: 0o644 });
  await writeFile(join(dir, 'nsswitch.conf'), NSSWITCH, { mode: 0o644 });
  const copied = withNetwork ? [...COPIED, ...COPIED_ONLINE] : COPIED;
  const bound = withNetwork ? [...BOUND, ...BOUND_ONLINE] : BOUND;
  await Promise.all(copied.map((name) => copyIfPresent(name, dir)));
  const binds = (await Promise.all(bound.map((name) => mountPoint(name, dir)))).filter(
    (b): b is Bind => b !== undefined,
  );
  // The user-mode network forwards DNS to the host's resolver: the host's own file would name
  // addresses (often on its loopback) that the sandbox cannot reach.
  if (withNetwork) await writeFile(join(dir, 'resolv.conf'), `nameserver ${SANDBOX_NAMESERVER}\n`, { mode: 0o644 });
  return { dir, binds };
}

/** Build (or rebuild) the two /etc variants under `dir`. */
export async function buildSandboxEtc(dir: string): Promise<{ offline: EtcView; online: EtcView }> {
  await rm(dir, { recursive: true, force: true });
  const [offline, online] = await Promise.all([
    buildView(join(dir, 'offline'), false),
    buildView(join(dir, 'online'), true),
  ]);
  return { offline, online };
}
