#!/usr/bin/env bash
# Builds square.wasm, a WASI command module, with Debian's clang + wasi-libc
# (packages: clang lld wasi-libc libclang-rt-dev-wasm32). Rebuilds only when a source changed.
set -euo pipefail
cd "$(dirname "$0")"
header=../include/tern.h
if [[ square.wasm -nt square.c && square.wasm -nt build.sh && square.wasm -nt $header ]]; then exit 0; fi
tmp=$(mktemp .square.wasm.XXXXXX)
trap 'rm -f "$tmp"' EXIT
clang --target=wasm32-wasi -O2 -Wall -Werror -I ../include -Wl,--strip-all -o "$tmp" square.c
chmod 644 "$tmp"
mv "$tmp" square.wasm
