#!/usr/bin/env bash
# Builds hello.wasm, a WASI command module, with Debian's clang + wasi-libc
# (packages: clang lld wasi-libc libclang-rt-dev-wasm32). Rebuilds only when hello.c changed.
set -euo pipefail
cd "$(dirname "$0")"
if [[ hello.wasm -nt hello.c && hello.wasm -nt build.sh ]]; then exit 0; fi
tmp=$(mktemp .hello.wasm.XXXXXX)
trap 'rm -f "$tmp"' EXIT
clang --target=wasm32-wasi -O2 -Wall -Werror -Wl,--strip-all -o "$tmp" hello.c
chmod 644 "$tmp"
mv "$tmp" hello.wasm
