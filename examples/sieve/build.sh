#!/usr/bin/env bash
# Builds sieve.wasm, a WASI command module, with Debian's clang + wasi-libc
# (packages: clang lld wasi-libc libclang-rt-dev-wasm32). Rebuilds only when sieve.c changed.
set -euo pipefail
cd "$(dirname "$0")"
if [[ sieve.wasm -nt sieve.c && sieve.wasm -nt build.sh ]]; then exit 0; fi
tmp=$(mktemp .sieve.wasm.XXXXXX)
trap 'rm -f "$tmp"' EXIT
clang --target=wasm32-wasi -O2 -Wall -Werror -Wl,--strip-all -o "$tmp" sieve.c
chmod 644 "$tmp"
mv "$tmp" sieve.wasm
