#!/usr/bin/env bash
# Starts a node with the bundled examples deployed and prints the URLs to try.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${TERN_PORT:-8080}
export TERN_DATA=${TERN_DATA:-$PWD/.tern}
echo "run: starting tern on http://127.0.0.1:$PORT with the examples in ./examples"
cat <<MSG
Try:
  curl http://127.0.0.1:$PORT/fn/hello
  curl http://127.0.0.1:$PORT/fn/hello-python
  curl -d 'hi' http://127.0.0.1:$PORT/fn/echo/some/path?x=1
  curl 'http://127.0.0.1:$PORT/fn/sieve?n=1000'
  bin/tern ls          (token: $TERN_DATA/token)
  open http://127.0.0.1:$PORT/ui/
MSG
exec node dist/src/cli/main.js serve --port "$PORT" --registry examples
