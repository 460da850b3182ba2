#!/usr/bin/env bash
# Builds build/image, an OCI image layout, from rootfs/ and Debian's static busybox: one gzip layer,
# a config (Entrypoint: busybox httpd on port 8080), a manifest and index.json. No registry, no docker.
set -euo pipefail
cd "$(dirname "$0")"
BUSYBOX=${BUSYBOX:-/bin/busybox}
[[ -x $BUSYBOX ]] || { echo "build.sh: no static busybox at $BUSYBOX (apt-get install busybox-static)" >&2; exit 1; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -a rootfs/. "$stage/"
mkdir -p "$stage/bin"
cp "$BUSYBOX" "$stage/bin/busybox"
ln -sf busybox "$stage/bin/sh"

rm -rf build/image
blobs=build/image/blobs/sha256
mkdir -p "$blobs"
digest() { sha256sum "$1" | cut -d' ' -f1; }
store() { local d; d=$(digest "$1"); mv "$1" "$blobs/$d"; echo "$d"; }

tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" -cf build/layer.tar .
diff_id=$(digest build/layer.tar)
gzip -n -9 build/layer.tar
layer_size=$(stat -c %s build/layer.tar.gz)
layer=$(store build/layer.tar.gz)

printf '{"architecture":"%s","os":"linux","config":{"Entrypoint":["/bin/busybox","httpd","-f","-p","8080"],"Cmd":["-h","/www"],"Env":["PATH=/bin"],"WorkingDir":"/www"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
  "$(dpkg --print-architecture 2>/dev/null || echo amd64)" "$diff_id" > build/config.json
config_size=$(stat -c %s build/config.json)
config=$(store build/config.json)

printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
  "$config" "$config_size" "$layer" "$layer_size" > build/manifest.json
manifest_size=$(stat -c %s build/manifest.json)
manifest=$(store build/manifest.json)

printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s}]}' \
  "$manifest" "$manifest_size" > build/image/index.json
printf '{"imageLayoutVersion":"1.0.0"}' > build/image/oci-layout
echo "built build/image (layer sha256:${layer:0:12}…)"
