#!/usr/bin/env bash
# build-user-image.sh -- build deploy/Dockerfile (the USERS' multi-stage build, `npm ci` inside the
# build stage) with podman and smoke-test the image, on a machine that cannot pull images.
#
#   bash test/compose/build-user-image.sh     (as root; several minutes; not part of run.sh)
#
# Stand-ins for the official images, from Debian's mirror and the host's own node package:
#   runtime base ~ node:20-bookworm-slim: debootstrap --variant=minbase bookworm + passwd + the
#                  files of the host's `nodejs` package (node, npm, headers)
#   build base   ~ node:20-bookworm:      the runtime base + g++, make, python3
# Then `podman build -f deploy/Dockerfile` from the repository (with its .dockerignore), which runs
# `npm ci` inside the build container (offline, from an npm cache filled on the host: the container
# cannot reach the registry here), and a smoke test of the result: with a throwaway certificate
# mounted at /etc/rpmem/tls, the default command serves TLS as user rpmem, the HEALTHCHECK passes,
# the CLI (--tls-ca) creates, writes and reads a pool, and a plaintext client is refused.
# Needs the Debian mirror and the npm registry (from the host), and openssl. Removes everything it
# made, always.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

TAG=user-build
RUNTIME_BASE=localhost/rpmem-node-runtime:$TAG
BUILD_BASE=localhost/rpmem-node-build:$TAG
IMAGE=localhost/rpmem:$TAG
CONTAINER=rpmem-user-build-smoke
WORK=$(mktemp -d /tmp/rpmem-user-build.XXXXXX)
export IMAGE CONTAINER WORK
T0=$(date +%s.%N)

LOG_TAG=build-user-image
# shellcheck source=test/compose/lib.sh
source "$ROOT/test/compose/lib.sh"

IMAGES_BEFORE=$WORK/images-before.txt
SNAPSHOT_TAKEN=0

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  podman rm -f -v -t 0 "$CONTAINER" >/dev/null 2>&1
  for image in "$IMAGE" "$BUILD_BASE" "$RUNTIME_BASE"; do
    if podman image exists "$image"; then podman rmi -f "$image" >/dev/null; fi
  done
  # The build stage's images and cached layers are untagged: remove every image this run added
  # (only when the list of images from before the run was taken).
  if ((SNAPSHOT_TAKEN)); then
    podman images -a -q --no-trunc | sort -u | comm -13 "$IMAGES_BEFORE" - | xargs -r podman rmi -f >/dev/null 2>&1
  fi
  rm -rf "$WORK"
  log "cleaned up; total $(elapsed "$T0") s, exit $rc"
  if ((rc == 0)); then echo "user-image: 1 passed, 0 failed"; else echo "user-image: 0 passed, 1 failed"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

[[ $(id -u) == 0 ]] || { log "must run as root"; exit 1; }
missing=()
for pkg in podman runc debootstrap; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  timed "apt-get install ${missing[*]}" 600 bash -c \
    "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y ${missing[*]}"
fi
dpkg-query -W -f='${Status}' nodejs 2>/dev/null | grep -q 'install ok installed' ||
  { log "the host's node must come from the nodejs package (its files are copied)"; exit 1; }

podman_config
podman images -a -q --no-trunc | sort -u >"$IMAGES_BEFORE"
SNAPSHOT_TAKEN=1

export rootfs=$WORK/rootfs
timed "debootstrap --variant=minbase bookworm" 600 \
  debootstrap --variant=minbase --include=passwd,ca-certificates bookworm "$rootfs" http://deb.debian.org/debian
# The package's files, and /usr/lib/node_modules as it is now (npm may have been upgraded in place).
copy_nodejs() {
  {
    dpkg -L nodejs | while IFS= read -r f; do
      if [[ -f $f || -L $f ]]; then printf '%s\n' "${f#/}"; fi
    done
    echo usr/lib/node_modules
  } | tar -C / -cf - -T - | tar -C "$rootfs" -xf -
}
timed "copy the host's nodejs package ($(dpkg-query -W -f='${Version}' nodejs)) into the rootfs" 120 copy_nodejs
timed "import $RUNTIME_BASE" 300 bash -c "tar -C '$rootfs' -c . | podman import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD [\"node\"]' - '$RUNTIME_BASE'"
timed "apt-get install g++ make python3 in the rootfs" 600 \
  chroot "$rootfs" bash -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends g++ make python3 && apt-get clean'
timed "import $BUILD_BASE" 300 bash -c "tar -C '$rootfs' -c . | podman import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD [\"node\"]' - '$BUILD_BASE'"

# The build container cannot reach the registry here (nothing but the host's own clients can), so
# the npm cache that `npm ci` reads is filled on the host from package-lock.json, and the build runs
# offline with it: the same `npm ci`, without the downloads. Mounts are not part of the image.
fill_npm_cache() {
  mkdir -p "$WORK/fill" "$WORK/npm-home/.npm"
  cp package.json package-lock.json "$WORK/fill/"
  (cd "$WORK/fill" && npm ci --ignore-scripts --no-audit --no-fund --cache "$WORK/npm-home/.npm")
  printf 'offline=true\naudit=false\nfund=false\nupdate-notifier=false\n' >"$WORK/npm-home/.npmrc"
}
timed "fill an npm cache on the host from package-lock.json" 600 fill_npm_cache
timed "podman build -f deploy/Dockerfile (npm ci --offline, node-gyp, tsc, prune) -> $IMAGE" 1200 \
  podman build --pull=never --format docker -f deploy/Dockerfile \
    -v "$WORK/npm-home/.npm:/root/.npm" -v "$WORK/npm-home/.npmrc:/root/.npmrc:ro" \
    --build-arg "NODE_BUILD_IMAGE=$BUILD_BASE" --build-arg "NODE_RUNTIME_IMAGE=$RUNTIME_BASE" \
    -t "$IMAGE" .
log "image: $(podman image inspect "$IMAGE" --format '{{.Size}} bytes, user {{.Config.User}}, cmd {{.Config.Cmd}}, volumes {{.Config.Volumes}}')"

# The image's default command needs TLS: a throwaway self-signed certificate for 127.0.0.1, mounted
# where deploy/rpmemd.conf expects it, readable by the image's user (uid 7420) only.
make_tls() {
  mkdir -p "$WORK/tls"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    -keyout "$WORK/tls/server.key" -out "$WORK/tls/server.crt"
  chown -R 7420:7420 "$WORK/tls"
  chmod 600 "$WORK/tls/server.key"
}

smoke() {
  podman run -d --name "$CONTAINER" -v "$WORK/tls:/etc/rpmem/tls:ro" "$IMAGE" >/dev/null
  local ok=0
  for _ in $(seq 1 20); do
    if podman healthcheck run "$CONTAINER" >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.5
  done
  ((ok)) || { echo "healthcheck never passed"; podman logs "$CONTAINER"; return 1; }
  echo "healthcheck: passed"
  podman logs "$CONTAINER" 2>&1 | grep -q '"tls":true' || { echo "rpmemd did not report tls:true"; podman logs "$CONTAINER"; return 1; }
  echo "rpmemd serves TLS (default command, /etc/rpmem/rpmemd.conf)"
  echo "user: $(podman exec "$CONTAINER" id)"
  podman exec "$CONTAINER" node -e 'require("fs").accessSync("/app/dist", require("fs").constants.W_OK)' 2>/dev/null &&
    { echo "/app is writable by the daemon's user"; return 1; }
  podman exec "$CONTAINER" node -e 'require("/app/node_modules/typescript/package.json")' 2>/dev/null &&
    { echo "devDependencies were not pruned (typescript is there)"; return 1; }
  local cli=(podman exec "$CONTAINER" node dist/src/cli/main.js)
  local conn=(--target 127.0.0.1:7420 --tls-ca /etc/rpmem/tls/server.crt)
  "${cli[@]}" create "${conn[@]}" --size 1M smoke
  "${cli[@]}" write "${conn[@]}" --offset 100 --data hello-from-the-user-image smoke
  [[ $("${cli[@]}" read "${conn[@]}" --offset 100 --length 25 smoke) == hello-from-the-user-image ]] ||
    { echo "read back differs"; return 1; }
  if "${cli[@]}" info --target 127.0.0.1:7420 smoke >/dev/null 2>&1; then echo "a plaintext client was served"; return 1; fi
  echo "a plaintext client is refused"
  podman exec "$CONTAINER" node deploy/pool-digest.js /var/lib/rpmem/smoke
  local t
  t=$(date +%s)
  podman stop -t 10 "$CONTAINER" >/dev/null
  echo "stop: $(( $(date +%s) - t )) s, exit code $(podman inspect "$CONTAINER" --format '{{.State.ExitCode}}')"
}
timed "make a TLS certificate (openssl)" 60 make_tls
timed "smoke test: rpmemd as rpmem with TLS, HEALTHCHECK, CLI create/write/read, stop" 180 smoke
sed 's/^/    /' "$LAST_LOG"
