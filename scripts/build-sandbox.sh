#!/usr/bin/env bash
# Builds what every process sandbox loads (src/runtimes/process/native/) into build/sandbox/:
# the seccomp programs (plain and the python zygote's, compiled with libseccomp, exported as the raw BPF bwrap --seccomp reads)
# and tern-init, the sandbox's first process (static: no library is looked up inside).
# Rebuilds only what is older than its source.
set -euo pipefail
cd "$(dirname "$0")/.."

src=src/runtimes/process/native
out=build/sandbox
mkdir -p "$out"

if [[ ! -x $out/seccomp-filter || $src/seccomp-filter.c -nt $out/seccomp-filter ]]; then
  gcc -O2 -Wall -Wextra -Werror -o "$out/seccomp-filter" "$src/seccomp-filter.c" -lseccomp
fi
if [[ ! -s $out/seccomp.bpf || $out/seccomp-filter -nt $out/seccomp.bpf ]]; then
  "$out/seccomp-filter" "$out/seccomp.bpf.tmp"
  mv "$out/seccomp.bpf.tmp" "$out/seccomp.bpf"
fi
if [[ ! -s $out/seccomp-zygote.bpf || $out/seccomp-filter -nt $out/seccomp-zygote.bpf ]]; then
  "$out/seccomp-filter" --zygote "$out/seccomp-zygote.bpf.tmp"
  mv "$out/seccomp-zygote.bpf.tmp" "$out/seccomp-zygote.bpf"
fi
if [[ ! -x $out/tern-init || $src/tern-init.c -nt $out/tern-init ]]; then
  gcc -O2 -Wall -Wextra -Werror -static -o "$out/tern-init.tmp" "$src/tern-init.c"
  mv "$out/tern-init.tmp" "$out/tern-init"
fi
