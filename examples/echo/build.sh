#!/usr/bin/env bash
# Builds echo.wasm, a WASI command module, with Debian's clang + wasi-libc
# (packages: clang lld wasi-libc libclang-rt-dev-wasm32). Rebuilds only when echo.c changed.
set -euo pipefail
cd "$(dirname "$0")"
if [[ echo.wasm -nt echo.c && echo.wasm -nt build.sh ]]; then exit 0; fi
tmp=$(mktemp .echo.wasm.XXXXXX)
trap 'rm -f "$tmp"' EXIT
clang --target=wasm32-wasi -O2 -Wall -Werror -Wl,--strip-all -o "$tmp" echo.c
chmod 644 "$tmp"
mv "$tmp" echo.wasm
