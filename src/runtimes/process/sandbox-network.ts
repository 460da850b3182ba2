/**
 * Network for functions with `network = true` (or an allow-list): the sandbox keeps its own
 * network namespace, and slirp4netns gives it a user-mode stack — a tap device inside, plain
 * sockets outside made by the slirp4netns process. Why slirp4netns: it attaches to an existing
 * namespace by path, runs unprivileged (as the function's own host uid, in the function's cgroup,
 * under its own seccomp filter), and says in one option that the host's loopback is off limits
 * (--disable-host-loopback). pasta, the other Debian choice, refuses to run from root here.
 *
 * What a function may reach is decided inside its namespace by nftables rules the node loads
 * before the function starts (the function has no capability to change them): never the host's
 * own addresses nor the user-mode gateway (the host); never IPv6; not link-local (cloud metadata)
 * unless listed; with an allow-list, only what it lists. Its loopback stays its own.
 *
 * Order: bwrap reports the sandbox's pid (--info-fd) and waits (--block-fd); slirp4netns makes
 * the tap, the node sets its address and loads the rules; one byte on the block fd lets the
 * function start.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { isExecutable } from '../../core/executable.js';
import { networkInterfaces } from 'node:os';
import type { Readable } from 'node:stream';
import type { NetworkAllowRule } from '../../registry/network-allow.js';
import { SETPRIV, spawnInCgroup, stdioAt, type Launched } from './launch.js';
import type { HostIdentity } from './uids.js';

/** slirp4netns's defaults: the sandbox is 10.0.2.100, the host 10.0.2.2, DNS 10.0.2.3. */
export const SANDBOX_ADDRESS = '10.0.2.100/24';
export const SANDBOX_GATEWAY = '10.0.2.2';
export const SANDBOX_NAMESERVER = '10.0.2.3';
const LINK_LOCAL = '169.254.0.0/16';
const TAP = 'tap0';
const MTU = 65520;
/** Attaching takes milliseconds; more than this is a stuck helper. */
const ATTACH_LIMIT_MS = 10_000;
const CLOSE_GRACE_MS = 1_000;
const ERROR_TAIL = 400;

export interface NetworkTools {
  slirp4netns: string;
  nft: string;
  nsenter: string;
  ip: string;
}

/** Something that lives as long as one sandbox and must end before its cgroup goes. */
export interface Companion {
  close(): Promise<void>;
}

function findExecutable(names: string[]): string | undefined {
  return names.find(isExecutable);
}

/** The tools, or a sentence saying which is missing. */
export function findNetworkTools(): NetworkTools | string {
  const slirp4netns = findExecutable(['/usr/bin/slirp4netns', '/usr/local/bin/slirp4netns']);
  const nft = findExecutable(['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft']);
  const nsenter = findExecutable(['/usr/bin/nsenter', '/bin/nsenter']);
  const ip = findExecutable(['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip']);
  const missing = [
    !slirp4netns && 'slirp4netns',
    !nft && 'nft (nftables)',
    !nsenter && 'nsenter (util-linux)',
    !ip && 'ip (iproute2)',
  ];
  const names = missing.filter((m): m is string => typeof m === 'string');
  if (!slirp4netns || !nft || !nsenter || !ip) return `sandbox networking needs ${names.join(', ')}`;
  return { slirp4netns, nft, nsenter, ip };
}

/** Every IPv4 address of this host's interfaces but loopback (the sandbox's loopback is its own). */
export function hostAddresses(): string[] {
  const found = new Set<string>();
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) found.add(a.address);
  return [...found].sort();
}

function allowRule(rule: NetworkAllowRule): string {
  if (rule.kind === 'dns') return `ip daddr ${SANDBOX_NAMESERVER} meta l4proto { tcp, udp } th dport 53 accept`;
  const port = rule.port === undefined ? '' : ` meta l4proto { tcp, udp } th dport ${rule.port}`;
  return `ip daddr ${rule.cidr}${port} accept`;
}

/** The nftables ruleset loaded into a sandbox's network namespace. */
export function firewallRules(allow: NetworkAllowRule[] | undefined, host: string[]): string {
  const never = [SANDBOX_GATEWAY, ...host].join(', ');
  const rules = [
    'oif "lo" accept',
    'meta nfproto ipv6 jump refuse',
    `ip daddr { ${never} } jump refuse`,
    ...(allow ? [...allow.map(allowRule), 'jump refuse'] : [`ip daddr ${LINK_LOCAL} jump refuse`]),
  ];
  return [
    'table inet tern {',
    '  chain refuse {',
    '    meta l4proto tcp reject with tcp reset',
    '    reject with icmpx type admin-prohibited',
    '  }',
    '  chain output {',
    '    type filter hook output priority 0; policy accept;',
    ...rules.map((r) => `    ${r}`),
    '  }',
    '}',
    '',
  ].join('\n');
}

function withLimit<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what} did not finish within ${ATTACH_LIMIT_MS / 1000}s`)),
      ATTACH_LIMIT_MS,
    );
  });
  return Promise.race([work, limit]).finally(() => clearTimeout(timer));
}

function collect(stream: Readable | null): () => string {
  let text = '';
  stream?.on('data', (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-ERROR_TAIL);
  });
  return () => text.trim();
}

/** The sandbox's pid from bwrap's info fd ({"child-pid": N, ...}, then end of file). */
async function readChildPid(info: Readable): Promise<number> {
  let text = '';
  for await (const chunk of info) text += (chunk as Buffer).toString('utf8');
  if (text.trim() === '') throw new Error('the sandbox ended before it reported its pid');
  const pid = (JSON.parse(text) as { 'child-pid'?: unknown })['child-pid'];
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) throw new Error(`bwrap reported no pid: ${text}`);
  return pid;
}

function exited(child: ChildProcess): Promise<[number | null, NodeJS.Signals | null]> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve([child.exitCode, child.signalCode]);
    else child.once('exit', (code, signal) => resolve([code, signal]));
  });
}

/**
 * Bring the tap up with its address and route, then load the firewall, in the sandbox's
 * namespace. Not slirp4netns's --configure: it also sets the loopback up, racing bwrap, whose
 * own loopback setup then fails when the kernel has already given lo its address.
 */
async function configureNamespace(tools: NetworkTools, pid: number, rules: string): Promise<void> {
  const script = [
    `${tools.ip} -batch - <<'EOF'`,
    `link set ${TAP} mtu ${MTU} up`,
    `addr add ${SANDBOX_ADDRESS} dev ${TAP}`,
    `route add default via ${SANDBOX_GATEWAY}`,
    'EOF',
    `exec ${tools.nft} -f -`,
  ].join('\n');
  const child = spawn(tools.nsenter, [`--net=/proc/${pid}/ns/net`, '--', '/bin/sh', '-c', script], {
    stdio: ['pipe', 'ignore', 'pipe'],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  });
  const errors = collect(child.stderr);
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(rules);
  const [code, signal] = await exited(child);
  if (code !== 0) throw new Error(`configuring the sandbox's network failed (${code ?? signal}): ${errors()}`);
}

/** slirp4netns as the function's uid, in its cgroup; resolves once its tap exists. */
async function startSlirp(
  tools: NetworkTools,
  pid: number,
  identity: HostIdentity,
  procsFiles: string[],
  dns: boolean,
): Promise<Companion> {
  const argv = [
    SETPRIV,
    `--reuid=${identity.uid}`,
    `--regid=${identity.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--',
    tools.slirp4netns,
    `--mtu=${MTU}`,
    '--disable-host-loopback',
    '--enable-seccomp',
    ...(dns ? [] : ['--disable-dns']),
    '--ready-fd=3',
    '--exit-fd=4',
    `--userns-path=/proc/${pid}/ns/user`,
    '--netns-type=path',
    `/proc/${pid}/ns/net`,
    TAP,
  ];
  const slirp = spawnInCgroup(procsFiles, argv, ['ignore', 'ignore', 'pipe', 'pipe', 'pipe']);
  const errors = collect(slirp.stderr);
  const ready = stdioAt(slirp, 3);
  const exitPipe = stdioAt(slirp, 4);
  exitPipe.on('error', () => undefined);
  const gone = exited(slirp);
  const companion: Companion = {
    async close() {
      exitPipe.destroy();
      const timer = setTimeout(() => slirp.kill('SIGKILL'), CLOSE_GRACE_MS);
      await gone;
      clearTimeout(timer);
    },
  };
  const up = new Promise<void>((resolve, reject) => {
    ready.once('data', () => resolve());
    void gone.then(([code, signal]) => reject(new Error(`slirp4netns exited (${code ?? signal}): ${errors()}`)));
  });
  try {
    await up;
  } catch (e) {
    await companion.close();
    throw e;
  }
  return companion;
}

export interface AttachOptions {
  tools: NetworkTools;
  identity: HostIdentity;
  procsFiles: string[];
  /** Undefined: anywhere but the host. */
  allow: NetworkAllowRule[] | undefined;
  /** Told of the helper as soon as it exists, so the instance ends it whatever happens next. */
  register: (companion: Companion) => void;
}

/** Give a waiting network sandbox its network and firewall, then let it start. */
export async function attachNetwork(launched: Launched, options: AttachOptions): Promise<void> {
  const work = (async () => {
    const pid = await readChildPid(launched.info);
    const dns = options.allow === undefined || options.allow.some((r) => r.kind === 'dns');
    const rules = firewallRules(options.allow, hostAddresses());
    options.register(await startSlirp(options.tools, pid, options.identity, options.procsFiles, dns));
    await configureNamespace(options.tools, pid, rules);
    launched.go.end(Buffer.from('1'));
  })();
  // Past the limit the work may still fail later, with nobody left to hear it.
  work.catch(() => undefined);
  await withLimit(work, 'attaching the sandbox network');
}
