#!/usr/bin/env bash
# Builds a micro-VM guest from Debian packages (linux-image-cloud-amd64, busybox-static, cpio):
#   build/vmlinuz            the cloud kernel, copied from /boot
#   build/initramfs.cpio.gz  busybox, the virtio-net modules with their dependencies, rootfs/
# Idempotent: rebuilds only when an input is newer than the outputs. Run from anywhere.
set -euo pipefail
# The function folder: this script's own, or the one given (examples/hello-vm builds through this script).
here="$(cd "${1:-$(dirname "$0")}" && pwd)"
out="$here/build"
fail() { echo "$(basename "$here")/build.sh: $*" >&2; exit 1; }

kernel="$(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1 || true)"
[[ -n $kernel ]] || fail "no /boot/vmlinuz-*: apt-get install linux-image-cloud-amd64"
version="${kernel#/boot/vmlinuz-}"
moddir="/lib/modules/$version"
[[ -f $moddir/modules.dep ]] || fail "no $moddir/modules.dep for kernel $version"
busybox="$(command -v busybox || true)"
[[ -n $busybox ]] || fail "no busybox: apt-get install busybox-static"
# The guest has no libc: busybox must be static (ldd fails on a static binary).
if ldd "$busybox" >/dev/null 2>&1; then fail "$busybox is dynamically linked: apt-get install busybox-static"; fi
command -v cpio >/dev/null || fail "no cpio: apt-get install cpio"

if [[ -f $out/vmlinuz && -f $out/initramfs.cpio.gz && -f $out/kernel-version ]] \
  && [[ $(cat "$out/kernel-version") == "$version" ]] \
  && [[ -z $(find "$here/rootfs" "$here/build.sh" "$0" "$busybox" -newer "$out/initramfs.cpio.gz" -print -quit) ]]; then
  echo "$(basename "$here"): up to date (kernel $version)"
  exit 0
fi

# virtio_mmio finds the microvm machine's devices; virtio_net gives eth0. modules.dep lists each
# module's dependencies deepest last, so walk it depth-first to get a load order.
declare -A seen=()
order=()
add_module() {
  local rel="$1" line deps dep
  [[ -n ${seen[$rel]:-} ]] && return
  seen[$rel]=1
  line="$(grep -m1 "^$rel:" "$moddir/modules.dep")" || fail "$rel is not in $moddir/modules.dep"
  deps="${line#*:}"
  for dep in $deps; do add_module "$dep"; done
  order+=("$rel")
}
for name in virtio_mmio virtio_net; do
  rel="$(grep -m1 -E "(^|/)$name\.ko(\.[a-z]+)?:" "$moddir/modules.dep" | cut -d: -f1)" || true
  [[ -n $rel ]] || fail "module $name not found in $moddir/modules.dep"
  add_module "$rel"
done

stage="$(mktemp -d)"
trap 'rm -rf "$stage" "$out/initramfs.cpio.gz.tmp.$$" "$out/vmlinuz.tmp.$$"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,tmp,etc,lib/modules}
cp "$busybox" "$stage/bin/busybox"
ln -s busybox "$stage/bin/sh"
cp -R "$here/rootfs/." "$stage/"
chmod 0755 "$stage/init" "$stage"/www/cgi-bin/*
: > "$stage/etc/modules.order"
for rel in "${order[@]}"; do
  base="$(basename "$rel")"
  case "$base" in
    *.ko) cp "$moddir/$rel" "$stage/lib/modules/$base" ;;
    *.ko.xz) xz -dc "$moddir/$rel" > "$stage/lib/modules/${base%.xz}"; base="${base%.xz}" ;;
    *.ko.zst) zstd -qdc "$moddir/$rel" > "$stage/lib/modules/${base%.zst}"; base="${base%.zst}" ;;
    *.ko.gz) gzip -dc "$moddir/$rel" > "$stage/lib/modules/${base%.gz}"; base="${base%.gz}" ;;
    *) fail "unexpected module file $rel" ;;
  esac
  echo "$base" >> "$stage/etc/modules.order"
done

mkdir -p "$out"
# Write to temporary names, then rename: a failed build leaves no half-written image.
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) | gzip -9 > "$out/initramfs.cpio.gz.tmp.$$"
cp "$kernel" "$out/vmlinuz.tmp.$$"
mv "$out/vmlinuz.tmp.$$" "$out/vmlinuz"
mv "$out/initramfs.cpio.gz.tmp.$$" "$out/initramfs.cpio.gz"
echo "$version" > "$out/kernel-version"
echo "$(basename "$here"): built build/vmlinuz and build/initramfs.cpio.gz (kernel $version; modules: ${order[*]##*/})"
