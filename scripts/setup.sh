#!/usr/bin/env bash
# Installs everything Tern needs on Debian 12 (as root) and builds it. Idempotent: fast when done.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBIAN_PACKAGES=(
  clang lld wasi-libc libclang-rt-dev-wasm32   # wasm examples: clang --target=wasm32-wasi
  bubblewrap                                    # process sandboxes
  gcc libc6-dev libseccomp-dev                  # process sandboxes: seccomp program and init (native/)
  slirp4netns nftables iproute2                 # process sandboxes: network = true (user-mode, firewalled)
  python3                                       # python runtime
  etcd-server redis-server                      # cluster registry, global state tier
  libcoap3-bin                                  # coap-client for the CoAP tests
  mosquitto mosquitto-clients                   # MQTT broker and clients for the MQTT trigger tests
  qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio   # micro-VM runtime and its example
  chromium chromium-driver                      # dashboard end-to-end test
  zip                                           # zip archives in tests
  wrk                                           # bench: multi-threaded HTTP load for the core-scaling scenario
  crun runc socat slirp4netns iproute2          # container runtime: OCI runtimes, port forwarder, outbound network
)

missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  [[ $p == \#* ]] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  if [[ $(id -u) -ne 0 ]]; then echo "setup: run as root to install packages" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # Services must not start on install: Tern and its tests start their own on loopback ports.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  rm -f /usr/sbin/policy-rc.d
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund
fi

bash scripts/build-ts.sh
bash scripts/build-sandbox.sh
bash scripts/build-examples.sh
echo "setup: done"
