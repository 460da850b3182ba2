#!/usr/bin/env bash
# Builds get.wasm, a WASI command module, with Debian's clang + wasi-libc
# (packages: clang lld wasi-libc libclang-rt-dev-wasm32). Rebuilds only when a source changed.
set -euo pipefail
cd "$(dirname "$0")"
header=../include/tern.h
if [[ get.wasm -nt get.c && get.wasm -nt build.sh && get.wasm -nt $header && get.wasm -nt ../include/request-key.h ]]; then exit 0; fi
tmp=$(mktemp .get.wasm.XXXXXX)
trap 'rm -f "$tmp"' EXIT
clang --target=wasm32-wasi -O2 -Wall -Werror -I ../include -Wl,--strip-all -o "$tmp" get.c
chmod 644 "$tmp"
mv "$tmp" get.wasm
