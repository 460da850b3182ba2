#!/usr/bin/env bash
# Compiles the TypeScript into dist/, only when a source changed since the last build
# (dist/.tsbuildinfo), and incrementally then (tsconfig.json): an unchanged tree costs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=dist/.tsbuildinfo
if [[ -f $stamp ]] && [[ -z $(find src test bench tsconfig.json package-lock.json -newer "$stamp" \( -name '*.ts' -o -name '*.json' \) -print -quit) ]]; then
  echo "build: dist is up to date"
  exit 0
fi
echo "build: compiling TypeScript"
npx tsc -p tsconfig.json
touch "$stamp"
