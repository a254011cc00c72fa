# Shared by the image scripts: copy host files into a root filesystem with Debian bookworm's
# merged-/usr layout (/bin, /lib, /lib64, /sbin are links into /usr), with the libraries they need.
# The sourcing script sets `rootfs` to the directory being filled.

# rootfs_layout -- the directories and /usr links of an empty root filesystem.
rootfs_layout() {
  mkdir -p "$rootfs"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64} "$rootfs"/{etc,tmp,root,dev,proc,sys,run}
  local d
  for d in bin sbin lib lib64; do ln -s "usr/$d" "$rootfs/$d"; done
  chmod 1777 "$rootfs/tmp"
  chmod 700 "$rootfs/root"
}

# put FILE -- copy FILE (following links) to its /usr-canonical path inside the rootfs.
put() {
  local src=$1 rel
  rel=${src#/}
  case $rel in
    usr/*) ;;
    bin/* | sbin/* | lib/* | lib64/*) rel=usr/$rel ;;
    *) echo "rootfs: unexpected path $src" >&2; exit 1 ;;
  esac
  mkdir -p "$rootfs/$(dirname "$rel")"
  cp -L "$src" "$rootfs/$rel"
}

# put_libs FILE... -- the shared libraries ldd resolves for each FILE ("name => /path (addr)") and
# the loader ("/lib64/ld-... (addr)"); prints how many.
put_libs() {
  local libs lib
  libs=$(for f in "$@"; do ldd "$f" 2>/dev/null || true; done |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
  for lib in $libs; do put "$lib"; done
  echo "$libs" | grep -c . || true
}
