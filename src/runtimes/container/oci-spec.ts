/**
 * The OCI runtime spec (config.json) Tern writes for every container: a user namespace that maps
 * the container's ids to an unprivileged range of the host, a read-only root with a tmpfs /tmp,
 * a network namespace Tern made (loopback only), cgroup limits set by Tern on the parent cgroup,
 * no new privileges, a small capability set, /proc paths masked as runc's default spec masks them,
 * and a seccomp filter that keeps the kernel's riskiest interfaces (new user namespaces, bpf,
 * keyrings, perf) away from functions.
 */

/** Container uid/gid 0 is host id HOST_ID_BASE, and so on for HOST_ID_COUNT ids: never host root. */
export const HOST_ID_BASE = 1_000_000_000;
export const HOST_ID_COUNT = 65_536;

export interface ContainerPlan {
  /** Absolute path of the unpacked root folder. */
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  uid: number;
  gid: number;
  hostname: string;
  /** /proc/<pid>/ns/net of the namespace Tern made for this container. */
  netns: string;
  /** The container's own cgroup, under the one Tern made and limited (relative to each hierarchy's root). */
  cgroupsPath: string;
  /** Size of the tmpfs /tmp (charged to the cgroup's memory like everything else). */
  tmpBytes: number;
  /** A file bind-mounted read-only at /etc/resolv.conf (functions granted the network). */
  resolvConf?: string;
  /**
   * Map ids through a user namespace (crun, runc). gVisor's runsc refuses one in the spec: its own
   * kernel is the boundary there, and it runs its sandbox unprivileged by itself.
   */
  userNamespace: boolean;
}

/** Inside the user namespace only; a function that needs fewer drops them itself. */
const CAPABILITIES = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
];

const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const EPERM = 1;
const ENOSYS = 38;
const CLONE_NEWUSER = 0x10000000;
const DENIED_SYSCALLS = [
  'add_key',
  'bpf',
  'fsconfig',
  'fsmount',
  'fsopen',
  'fspick',
  'init_module',
  'finit_module',
  'delete_module',
  'kexec_load',
  'kexec_file_load',
  'keyctl',
  'mount',
  'move_mount',
  'open_tree',
  'perf_event_open',
  'pivot_root',
  'request_key',
  'setns',
  'umount2',
  'userfaultfd',
];

function seccomp(): object {
  const newUser = [{ index: 0, value: CLONE_NEWUSER, valueTwo: CLONE_NEWUSER, op: 'SCMP_CMP_MASKED_EQ' }];
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    syscalls: [
      { names: DENIED_SYSCALLS, action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      { names: ['unshare', 'clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: newUser },
      // clone3's flags sit behind a pointer seccomp cannot read: "not implemented" makes libc fall back to clone.
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ],
  };
}

function mounts(tmpBytes: number, resolvConf: string | undefined): object[] {
  const tmpfs = (destination: string, options: string[]) => ({ destination, type: 'tmpfs', source: 'tmpfs', options });
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    tmpfs('/dev', ['nosuid', 'strictatime', 'mode=755', 'size=65536k']),
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'],
    },
    tmpfs('/dev/shm', ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${tmpBytes}`]),
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    tmpfs('/tmp', ['nosuid', 'nodev', 'mode=1777', `size=${tmpBytes}`]),
    ...(resolvConf
      ? [
          {
            destination: '/etc/resolv.conf',
            type: 'bind',
            source: resolvConf,
            options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'],
          },
        ]
      : []),
  ];
}

export function ociSpec(p: ContainerPlan): object {
  const capabilities = p.uid === 0 ? CAPABILITIES : [];
  const idMap = [{ containerID: 0, hostID: HOST_ID_BASE, size: HOST_ID_COUNT }];
  const userns = p.userNamespace ? { uidMappings: idMap, gidMappings: idMap } : {};
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: p.uid, gid: p.gid },
      args: p.args,
      env: p.env,
      cwd: p.cwd,
      capabilities: { bounding: capabilities, effective: capabilities, permitted: capabilities },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    root: { path: p.rootfs, readonly: true },
    hostname: p.hostname,
    mounts: mounts(p.tmpBytes, p.resolvConf),
    linux: {
      ...userns,
      cgroupsPath: p.cgroupsPath,
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        ...(p.userNamespace ? [{ type: 'user' }] : []),
        { type: 'cgroup' },
        { type: 'network', path: p.netns },
      ],
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      seccomp: seccomp(),
    },
  };
}
