/*
 * Writes the seccomp program every process sandbox runs under (bubblewrap's --seccomp takes it
 * as raw classic BPF). Built and run by scripts/setup.sh: gcc ... -lseccomp; ./seccomp-filter OUT.
 *
 * A deny list over an allowed default: functions run arbitrary interpreters and binaries, so the
 * filter names what no function needs (namespaces, mounts, tracing, kernel-wide switches) rather
 * than guessing everything they might. Denied calls fail with EPERM; clone3 fails with ENOSYS so
 * libc falls back to clone, whose flags a classic filter can read (clone3 passes them in memory).
 * Only the native ABI passes: a call through another ABI (i386 int 0x80, x32 numbers on x86-64)
 * kills the process, so no table the filter does not cover can be reached.
 *
 * --zygote writes the variant a python zygote sandbox runs under (docs/architecture.md, zygotes):
 * the same, except that unshare with exactly CLONE_NEWUSER|CLONE_NEWNS and mount pass, so each
 * forked child can put a fresh tmpfs on its own /tmp. The child then loads the plain filter on
 * top (filters stack; the stricter answer wins), so only the zygote itself keeps the two calls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

/* Calls no function needs, each with why it is dangerous. */
static const char *const DENIED[] = {
    /* namespaces: a new user namespace is root inside and reaches kernel code meant for root */
    "unshare", "setns",
    /* the mount table: hiding or replacing files, escaping the sandbox root */
    "mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount",
    "fsconfig", "fspick", "mount_setattr",
    /* other processes' memory and files */
    "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp",
    /* the kernel itself */
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module", "bpf",
    "perf_event_open", "userfaultfd", "iopl", "ioperm", "modify_ldt", "uselib", "_sysctl", "lookup_dcookie",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    /* kernel keyrings: shared with the host's users */
    "keyctl", "add_key", "request_key",
    /* machine-wide switches */
    "swapon", "swapoff", "reboot", "acct", "quotactl", "quotactl_fd", "settimeofday", "clock_settime",
    "clock_adjtime", "adjtimex", "sethostname", "setdomainname", "syslog", "vhangup", "nfsservctl",
    /* files by handle, around every folder permission */
    "open_by_handle_at",
};

static const unsigned long NAMESPACE_FLAGS[] = {
    CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
};

static int deny(scmp_filter_ctx ctx, const char *name, int err) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR) {
    fprintf(stderr, "seccomp-filter: unknown system call %s\n", name);
    return -1;
  }
  int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), nr, 0);
  /* A call this architecture does not have (-EDOM and friends for pseudo numbers) needs no rule. */
  return rc == 0 || nr < 0 ? 0 : rc;
}

static int build(scmp_filter_ctx ctx, int zygote) {
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (rc) return rc;
  for (size_t i = 0; i < sizeof DENIED / sizeof DENIED[0]; i++) {
    if (zygote && (strcmp(DENIED[i], "unshare") == 0 || strcmp(DENIED[i], "mount") == 0)) continue;
    if ((rc = deny(ctx, DENIED[i], EPERM))) return rc;
  }
  if (zygote) {
    /* unshare: only a user and mount namespace together (a private /tmp), nothing else. */
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
                          SCMP_A0(SCMP_CMP_NE, (scmp_datum_t)(CLONE_NEWUSER | CLONE_NEWNS)));
    if (rc) return rc;
  }
  if ((rc = deny(ctx, "clone3", ENOSYS))) return rc;
  /* clone's first argument on x86-64 (and arm64) holds the flags: any namespace bit refuses it.
   * CLONE_NEWTIME shares its bit with the exit signal in clone, so only unshare could ask it. */
  for (size_t i = 0; i < sizeof NAMESPACE_FLAGS / sizeof NAMESPACE_FLAGS[0]; i++) {
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, NAMESPACE_FLAGS[i], NAMESPACE_FLAGS[i]));
    if (rc) return rc;
  }
  return 0;
}

int main(int argc, char **argv) {
  int zygote = argc >= 2 && strcmp(argv[1], "--zygote") == 0;
  if (zygote) {
    argc--;
    argv++;
  }
  if (argc != 2 && !(argc == 3 && strcmp(argv[1], "--text") == 0)) {
    fprintf(stderr, "usage: seccomp-filter [--zygote] OUT.bpf | seccomp-filter [--zygote] --text OUT.txt\n");
    return 2;
  }
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (!ctx) {
    fprintf(stderr, "seccomp-filter: seccomp_init failed\n");
    return 1;
  }
  int rc = build(ctx, zygote);
  if (rc) {
    fprintf(stderr, "seccomp-filter: building the filter failed: %s\n", strerror(-rc));
    seccomp_release(ctx);
    return 1;
  }
  const char *out = argv[argc - 1];
  int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    perror(out);
    seccomp_release(ctx);
    return 1;
  }
  rc = argc == 3 ? seccomp_export_pfc(ctx, fd) : seccomp_export_bpf(ctx, fd);
  if (rc) fprintf(stderr, "seccomp-filter: export failed: %s\n", strerror(-rc));
  if (close(fd) && !rc) {
    perror(out);
    rc = -1;
  }
  seccomp_release(ctx);
  return rc ? 1 : 0;
}
