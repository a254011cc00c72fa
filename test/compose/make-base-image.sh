#!/usr/bin/env bash
# make-base-image.sh -- build a minimal node base image from this host's own files, with no registry.
#
# FOR THE OFFLINE TEST ONLY. Users build deploy/Dockerfile FROM the official node images instead.
#
# The root filesystem holds: the host's node binary, every shared library `ldd` lists for node, for
# the addon (build/Release/rpmem_native.node) and for /bin/sh (dash), a passwd/group with root, and
# /tmp. It is imported with `podman import` (see /work/shared/CONTAINERS.md, "Base image without a
# registry"). The addon must be built on the host first: it is linked against this same libc/libstdc++.
#
# Usage: make-base-image.sh IMAGE_NAME [ADDON_PATH]
set -euo pipefail

image=${1:?usage: make-base-image.sh IMAGE_NAME [ADDON_PATH]}
addon=${2:-build/Release/rpmem_native.node}
node_bin=$(command -v node)
sh_bin=$(readlink -f /bin/sh)

[[ -f $addon ]] || { echo "make-base-image: $addon is missing; run 'npm run build' first" >&2; exit 1; }

rootfs=$(mktemp -d /tmp/rpmem-base-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

# shellcheck source=test/compose/rootfs.sh
source "$(dirname "${BASH_SOURCE[0]}")/rootfs.sh"
rootfs_layout

put "$node_bin"
cp -L "$sh_bin" "$rootfs/usr/bin/dash"
ln -s dash "$rootfs/usr/bin/sh"

nlibs=$(put_libs "$node_bin" "$addon" "$sh_bin")

cat >"$rootfs/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$rootfs/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
cat >"$rootfs/etc/nsswitch.conf" <<'EOF'
passwd: files
group:  files
hosts:  files dns
EOF
: >"$rootfs/etc/hosts"
: >"$rootfs/etc/resolv.conf"

tar -C "$rootfs" -c . | podman import --quiet \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'CMD ["node"]' \
  --message "rpmem offline test base: host node $("$node_bin" --version)" \
  - "$image" >/dev/null
echo "make-base-image: $image ($(du -sh "$rootfs" | cut -f1), node $("$node_bin" --version), $nlibs libraries)"
