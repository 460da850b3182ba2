#!/usr/bin/env bash
# Builds every example and test fixture that has a build.sh (wasm modules, the micro-VM image).
# Templates are not built here: `tern new` copies their sources and the user runs their build.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
while IFS= read -r script; do
  if ! bash "$script" >/tmp/tern-build-$$.log 2>&1; then
    echo "build-examples: $script failed:" >&2
    cat /tmp/tern-build-$$.log >&2
    status=1
  fi
done < <(find examples test/fixtures -name build.sh -not -path '*/node_modules/*' | sort)
rm -f /tmp/tern-build-$$.log
exit $status
