#!/usr/bin/env bash
# make-etcd-image.sh -- an etcd image from this host's own etcd binary (Debian's etcd-server), with no
# registry. FOR THE OFFLINE TEST ONLY: users run docker-compose.yml's default ETCD_IMAGE, the
# official etcd image, which has `etcd` on PATH as this one does.
#
# The root filesystem holds /usr/local/bin/etcd, the libraries `ldd` lists for it (Debian builds it
# against libc only), a passwd/group with root and /var/lib/etcd. It is imported with `podman import`.
#
# Usage: make-etcd-image.sh IMAGE_NAME [ETCD_BINARY]
set -euo pipefail

image=${1:?usage: make-etcd-image.sh IMAGE_NAME [ETCD_BINARY]}
etcd_bin=${2:-$(command -v etcd || true)}
[[ -n $etcd_bin && -x $etcd_bin ]] || { echo "make-etcd-image: no etcd binary; apt-get install etcd-server" >&2; exit 1; }

rootfs=$(mktemp -d /tmp/rpmem-etcd-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

# shellcheck source=test/compose/rootfs.sh
source "$(dirname "${BASH_SOURCE[0]}")/rootfs.sh"
rootfs_layout
mkdir -p "$rootfs/usr/local/bin" "$rootfs/var/lib/etcd"
cp -L "$etcd_bin" "$rootfs/usr/local/bin/etcd"
nlibs=$(put_libs "$etcd_bin")
echo 'root:x:0:0:root:/root:/nonexistent' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
printf 'passwd: files\ngroup:  files\nhosts:  files dns\n' >"$rootfs/etc/nsswitch.conf"
: >"$rootfs/etc/hosts"
: >"$rootfs/etc/resolv.conf"

version=$("$etcd_bin" --version | awk '/etcd Version/ { print $3 }')
tar -C "$rootfs" -c . | podman import --quiet \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change 'CMD ["etcd"]' \
  --message "rpmem offline test etcd: host etcd $version" \
  - "$image" >/dev/null
echo "make-etcd-image: $image ($(du -sh "$rootfs" | cut -f1), etcd $version from $etcd_bin, $nlibs libraries)"
