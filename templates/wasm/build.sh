#!/usr/bin/env bash
# Builds main.wasm from main.c with clang for WASI
# (Debian: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32). Rebuilds only when main.c changed.
set -euo pipefail
cd "$(dirname "$0")"
if [[ main.wasm -nt main.c && main.wasm -nt build.sh ]]; then exit 0; fi
tmp=$(mktemp .main.wasm.XXXXXX)
trap 'rm -f "$tmp"' EXIT
clang --target=wasm32-wasi -O2 -Wall -Werror -Wl,--strip-all -o "$tmp" main.c
chmod 644 "$tmp"
mv "$tmp" main.wasm
