/*
 * The first process of every process sandbox (bwrap --as-pid-1 runs it as pid 1). bwrap's own
 * init would run outside the seccomp filter with the function's uid, so a function could write
 * into its memory through /proc/1/mem and leave the filter behind; this init runs inside it.
 *
 * It starts the command in TERN_EXEC (arguments single-quoted for sh, as sandbox.ts writes them),
 * passes on the signals a supervisor sends, reaps every orphan (a pid namespace's first process
 * inherits them all) and exits as the command did; the kernel then ends the rest of the sandbox.
 * Only stdin, stdout, stderr and fd 3 (the node's channel) reach the command.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_ARGS 4096
#define KEPT_FDS 4

static const int FORWARDED[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

static volatile pid_t child = 0;

static void forward(int sig) {
  if (child > 0) kill(child, sig);
}

/* 'a' 'b'\''c' -> {"a", "b'c"}: the only form sandbox.ts produces. Returns the count, -1 if malformed. */
static int parse_quoted(char *text, char **argv, int max) {
  int argc = 0;
  char *in = text;
  while (*in) {
    if (*in == ' ') {
      in++;
      continue;
    }
    if (argc == max - 1) return -1;
    char *out = in;
    argv[argc++] = out;
    while (*in && *in != ' ') {
      if (*in == '\'') {
        in++;
        while (*in && *in != '\'') *out++ = *in++;
        if (*in != '\'') return -1;
        in++;
      } else if (in[0] == '\\' && in[1] == '\'') {
        *out++ = '\'';
        in += 2;
      } else {
        return -1;
      }
    }
    if (*in == ' ') in++;
    *out = '\0';
  }
  argv[argc] = NULL;
  return argc;
}

static void close_extra_fds(void) {
  if (syscall(SYS_close_range, KEPT_FDS, ~0U, 0) == 0) return;
  for (int fd = KEPT_FDS; fd < 1024; fd++) close(fd);
}

static int exit_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

int main(void) {
  const char *exec_env = getenv("TERN_EXEC");
  if (!exec_env) {
    fprintf(stderr, "tern-init: TERN_EXEC is not set\n");
    return 127;
  }
  char *text = strdup(exec_env);
  static char *args[MAX_ARGS];
  if (!text || parse_quoted(text, args, MAX_ARGS) < 1) {
    fprintf(stderr, "tern-init: TERN_EXEC is not a quoted command line\n");
    return 127;
  }
  unsetenv("TERN_EXEC");
  close_extra_fds();

  sigset_t all, previous;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &previous);
  child = fork();
  if (child < 0) {
    perror("tern-init: fork");
    return 127;
  }
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &previous, NULL);
    execvp(args[0], args);
    fprintf(stderr, "tern-init: cannot run %s: %s\n", args[0], strerror(errno));
    _exit(127);
  }
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = forward;
  for (size_t i = 0; i < sizeof FORWARDED / sizeof FORWARDED[0]; i++) sigaction(FORWARDED[i], &action, NULL);
  sigprocmask(SIG_SETMASK, &previous, NULL);

  for (;;) {
    int status;
    pid_t done = waitpid(-1, &status, 0);
    if (done == child) return exit_status(status);
    if (done < 0 && errno != EINTR) return 1;
  }
}
