#!/usr/bin/env bash
# Builds the hello-vm guest (build/vmlinuz, build/initramfs.cpio.gz) from Debian packages with the
# micro-VM starter's build script, the one `tern new microvm` gives: one script for both.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec bash "$here/../../templates/microvm/build.sh" "$here"
