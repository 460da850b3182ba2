#!/usr/bin/env bash
# Builds put.wasm, a WASI command module, with Debian's clang + wasi-libc
# (packages: clang lld wasi-libc libclang-rt-dev-wasm32). Rebuilds only when a source changed.
set -euo pipefail
cd "$(dirname "$0")"
header=../include/tern.h
if [[ put.wasm -nt put.c && put.wasm -nt build.sh && put.wasm -nt $header && put.wasm -nt ../include/request-key.h ]]; then exit 0; fi
tmp=$(mktemp .put.wasm.XXXXXX)
trap 'rm -f "$tmp"' EXIT
clang --target=wasm32-wasi -O2 -Wall -Werror -I ../include -Wl,--strip-all -o "$tmp" put.c
chmod 644 "$tmp"
mv "$tmp" put.wasm
