#!/usr/bin/env bash
# Builds fanout.wasm, a WASI command module, with Debian's clang + wasi-libc
# (packages: clang lld wasi-libc libclang-rt-dev-wasm32). Rebuilds only when a source changed.
set -euo pipefail
cd "$(dirname "$0")"
header=../include/tern.h
if [[ fanout.wasm -nt fanout.c && fanout.wasm -nt build.sh && fanout.wasm -nt $header ]]; then exit 0; fi
tmp=$(mktemp .fanout.wasm.XXXXXX)
trap 'rm -f "$tmp"' EXIT
clang --target=wasm32-wasi -O2 -Wall -Werror -I ../include -Wl,--strip-all -o "$tmp" fanout.c
chmod 644 "$tmp"
mv "$tmp" fanout.wasm
