#!/usr/bin/env bash
# run.sh -- the automated docker-compose failover drill, run for real with podman + Debian's
# docker-compose 1.29 (no Docker engine, no registry; see /work/shared/CONTAINERS.md).
#
#   bash test/compose/run.sh            (as root; from any directory)
#
# 1. installs what a fresh machine lacks (apt): podman, runc, catatonit, netavark, aardvark-dns,
#    iptables (netavark calls it; without it `up` fails with "netavark: No such file or directory"),
#    iproute2, openssl, etcd-server (its binary goes into the etcd image) and docker-compose;
# 2. writes a containers.conf into a temporary dir (CONTAINERS_CONF; /etc is not touched) and starts
#    a private `podman system service` on a socket in that dir (DOCKER_HOST), remembering its PID;
# 3. builds the project on the host (npm run build), a base image from the host's own node and
#    libraries (make-base-image.sh), an etcd image from the host's etcd (make-etcd-image.sh), and the
#    project image from deploy/Dockerfile.local with
#    `docker-compose build` on a staged context; checks that Dockerfile.local's runtime lines match
#    deploy/Dockerfile's; validates docker-compose.yml (`config -q`, with the user defaults and with
#    the test's variables);
# 4. `up -d` node1..3, pins the bridge's MAC address, and runs the drill's steps (drill.js);
# 5. always tears down (trap): `docker-compose down -v`, then removes by label whatever is left
#    (containers, volumes, networks), the three images it built, stops its podman service by PID, and
#    removes its temporary dir.
#
# Environment:
#   RPMEM_COMPOSE_NO_BUILD=1     do not run `npm run build` (use dist/ and build/Release as they are)
#   RPMEM_COMPOSE_KEEP_IMAGES=1  keep the base and project images (faster reruns)
#   RPMEM_DRILL_STRICT=0         skip (instead of failing) drill steps whose code or tool is missing
#   RPMEM_DRILL_PARTS            target,replicated,automatic (default all three)
# Prints one closing line "compose: N passed, N failed, N skipped". Exit 0 only if nothing failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

PROJECT=rpmemdrill
TAG=compose-drill
BASE_IMAGE=localhost/rpmem-base:$TAG
IMAGE=localhost/rpmem:$TAG
ETCD_IMAGE=localhost/rpmem-etcd:$TAG
WORK=$(mktemp -d /tmp/rpmem-compose.XXXXXX)
export WORK
PODMAN_PID=
DRILL_PID=
T0=$(date +%s.%N)

# ---- output and bounded commands ---------------------------------------------------------------

LOG_TAG=run.sh
# shellcheck source=test/compose/lib.sh
source "$ROOT/test/compose/lib.sh"

# ---- teardown (always) -------------------------------------------------------------------------

# summary RC -- the closing line: the drill's counts, with one more failure when the run failed
# outside the drill's steps (set-up, teardown).
summary() {
  local f=$WORK/drill-result.json
  [[ -s $f ]] || echo '{"passed":0,"failed":0,"skipped":0}' >"$f"
  node -e 'const c = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    if (process.argv[2] !== "0" && c.failed === 0) c.failed = 1;
    console.log(`compose: ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped`)' "$f" "$1"
}

# kill_exec_monitors -- conmon processes of `exec` sessions (docker-compose exec) can outlive their
# container, parentless and idle. End those started during this run whose container is gone.
kill_exec_monitors() {
  local pid age id n=0 run_age
  run_age=$(($(date +%s) - ${T0%.*}))
  while read -r pid age id; do
    ((age <= run_age)) || continue
    podman container exists "$id" 2>/dev/null && continue
    kill -KILL "$pid" 2>/dev/null && n=$((n + 1))
  done < <(ps -C conmon -o pid=,etimes=,args= | awk '{ for (i = 3; i < NF; i++) if ($i == "-c") print $1, $2, $(i + 1) }')
  ((n == 0)) || log "ended $n leftover conmon process(es) of removed containers"
}

cleanup() {
  local rc=$? t
  set +e
  trap - EXIT INT TERM
  t=$(date +%s.%N)
  log "teardown"
  if [[ -n $DRILL_PID ]] && kill -0 "$DRILL_PID" 2>/dev/null; then
    kill -TERM "$DRILL_PID" 2>/dev/null
    wait "$DRILL_PID" 2>/dev/null
    log "stopped the drill (pid $DRILL_PID)"
  fi
  local label=com.docker.compose.project=$PROJECT
  if [[ -n $PODMAN_PID ]] && kill -0 "$PODMAN_PID" 2>/dev/null; then
    timeout --kill-after=10 120 docker-compose down -v --remove-orphans -t 5 >"$WORK/down.log" 2>&1 ||
      { log "docker-compose down failed:"; sed 's/^/    /' "$WORK/down.log"; }
  fi
  # Whatever `down` could not remove (or a run killed before `up` finished), found by label.
  podman ps -aq --filter "label=$label" | xargs -r timeout 60 podman rm -f -v -t 0 >/dev/null
  kill_exec_monitors
  podman volume ls -q --filter "label=$label" | xargs -r timeout 60 podman volume rm -f >/dev/null
  podman network ls -q --filter "label=$label" | xargs -r timeout 60 podman network rm -f >/dev/null
  # Anonymous volumes (the image's VOLUME, in a container that mounted nothing there) carry no
  # label: remove the unlabeled ones this run created, unless a container still uses them.
  if [[ -s $WORK/volumes-before.txt ]]; then
    local v leaked=0
    for v in $(podman volume ls -q | sort | comm -13 "$WORK/volumes-before.txt" -); do
      [[ -z $(podman volume inspect "$v" --format '{{range $k, $_ := .Labels}}{{$k}}{{end}}') ]] || continue
      timeout 60 podman volume rm "$v" >/dev/null 2>&1 && leaked=$((leaked + 1))
    done
    ((leaked == 0)) || log "removed $leaked anonymous volume(s) left by this run"
  fi
  if [[ ${RPMEM_COMPOSE_KEEP_IMAGES:-0} != 1 ]]; then
    for image in "$IMAGE" "$BASE_IMAGE" "$ETCD_IMAGE"; do
      if podman image exists "$image"; then timeout 60 podman rmi -f "$image" >/dev/null; fi
    done
  fi
  if [[ -n $PODMAN_PID ]]; then
    kill -TERM "$PODMAN_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$PODMAN_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$PODMAN_PID" 2>/dev/null
    wait "$PODMAN_PID" 2>/dev/null
  fi
  log "teardown done ($(elapsed "$t") s): $(podman ps -aq --filter "label=$label" | wc -l) containers, $(podman volume ls -q --filter "label=$label" | wc -l) volumes, $(podman network ls -q --filter "label=$label" | wc -l) networks of $PROJECT left"
  local line
  line=$(summary "$rc")
  rm -rf "$WORK"
  log "total $(elapsed "$T0") s, exit $rc"
  echo "$line"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- 1. tools ----------------------------------------------------------------------------------

[[ $(id -u) == 0 ]] || { log "must run as root (rootful podman; see CONTAINERS.md)"; exit 1; }

install_tools() {
  local missing=() pkg
  for pkg in podman runc catatonit netavark aardvark-dns iptables iproute2 openssl etcd-server; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  local compose_missing=0
  command -v docker-compose >/dev/null || compose_missing=1
  if ((${#missing[@]} == 0 && compose_missing == 0)); then
    echo "all present"
    return 0
  fi
  apt-get update
  # etcd-server ships an init script: keep its postinst from starting an etcd on the host (policy-rc.d
  # exit 101 = "not allowed"), unless the machine has a policy of its own.
  local policy=/usr/sbin/policy-rc.d own_policy=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && own_policy=1; fi
  if ((${#missing[@]} > 0)); then DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" || { ((own_policy)) && rm -f "$policy"; return 1; }; fi
  if ((own_policy)); then rm -f "$policy"; fi
  # Without --no-install-recommends it also pulls a Docker engine (~250 MB).
  if ((compose_missing)); then DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker-compose; fi
}
timed "install tools (apt, only what is missing)" 600 install_tools
log "$(podman --version), $(runc --version | head -n1), $(iptables --version), etcd $(etcd --version | awk '/etcd Version/ { print $3 }'), docker-compose $(docker-compose version --short)"

# ---- 2. podman configuration and API service ---------------------------------------------------

podman_config
{ echo; podman volume ls -q | sort; } >"$WORK/volumes-before.txt"
SOCK=$WORK/podman.sock
podman system service --time=0 "unix://$SOCK" >"$WORK/podman-service.log" 2>&1 &
PODMAN_PID=$!
export SOCK PODMAN_PID
wait_service() {
  for _ in $(seq 1 60); do
    if [[ -S $SOCK ]] && podman --remote --url "unix://$SOCK" version >/dev/null 2>&1; then return 0; fi
    kill -0 "$PODMAN_PID" 2>/dev/null || { cat "$WORK/podman-service.log"; return 1; }
    sleep 0.25
  done
  return 1
}
timed "start podman system service (pid $PODMAN_PID)" 30 wait_service

export DOCKER_HOST=unix://$SOCK
export COMPOSE_PROJECT_NAME=$PROJECT
# Build through the engine API (podman), not through a `docker` CLI that may be on PATH.
export COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0
unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT COMPOSE_FILE

# A run killed before its teardown may have left the project behind.
timed "remove leftovers of an earlier run" 120 docker-compose down -v --remove-orphans -t 0

# ---- 3. images ---------------------------------------------------------------------------------

if [[ ${RPMEM_COMPOSE_NO_BUILD:-0} != 1 ]]; then
  timed "npm run build (addon + TypeScript, on the host)" 600 npm run build
fi
timed "base image $BASE_IMAGE from the host's node and libraries" 120 \
  bash test/compose/make-base-image.sh "$BASE_IMAGE" build/Release/rpmem_native.node
timed "etcd image $ETCD_IMAGE from the host's etcd" 120 bash test/compose/make-etcd-image.sh "$ETCD_IMAGE" /usr/bin/etcd
export ETCD_IMAGE

# The runtime (last) stage of both Dockerfiles must agree on what the user sees.
runtime_lines() {
  awk '/^FROM / { n++ } { stage[n] = stage[n] $0 "\n" } END { printf "%s", stage[n] }' "$1" |
    grep -E '^(WORKDIR|ENV|USER|VOLUME|EXPOSE|HEALTHCHECK|CMD|COPY deploy/)'
}
if ! diff <(runtime_lines deploy/Dockerfile) <(runtime_lines deploy/Dockerfile.local) >"$WORK/dockerfile-diff.txt"; then
  log "FAILED: deploy/Dockerfile and deploy/Dockerfile.local differ in their runtime lines:"
  sed 's/^/    /' "$WORK/dockerfile-diff.txt"
  exit 1
fi
log "ok deploy/Dockerfile and deploy/Dockerfile.local agree (WORKDIR ENV USER VOLUME EXPOSE HEALTHCHECK CMD, deploy files)"

# Staged build context for Dockerfile.local: the host-built tree (the repo's .dockerignore keeps
# node_modules, dist and build out of the user build's context).
stage_context() {
  local ctx=$WORK/context
  mkdir -p "$ctx/build/Release" "$ctx/deploy"
  cp -a package.json dist proto node_modules "$ctx/"
  cp build/Release/rpmem_native.node "$ctx/build/Release/"
  cp deploy/Dockerfile.local deploy/healthcheck.js deploy/pool-digest.js deploy/rpmemd.conf "$ctx/deploy/"
}
timed "stage the build context" 120 stage_context
export RPMEM_IMAGE=$IMAGE RPMEM_BUILD_CONTEXT=$WORK/context RPMEM_DOCKERFILE=deploy/Dockerfile.local
export NODE_RUNTIME_IMAGE=$BASE_IMAGE

timed "docker-compose config -q (user defaults)" 60 \
  env -u RPMEM_IMAGE -u RPMEM_BUILD_CONTEXT -u RPMEM_DOCKERFILE -u NODE_RUNTIME_IMAGE -u ETCD_IMAGE docker-compose config -q
timed "docker-compose config -q (test variables)" 60 docker-compose config -q
# Every service has the same image and build; building one builds it for all.
timed "docker-compose build node1 -> $IMAGE" 600 docker-compose build node1

# ---- 4. cluster up and the drill ---------------------------------------------------------------

timed "docker-compose up -d node1 node2 node3" 180 docker-compose up -d --no-build node1 node2 node3

# The bridge takes the lowest MAC of its ports, so it changes as containers join and leave, and
# containers then cannot reach the DNS server on it for tens of seconds. Pin it.
BRIDGE=$(podman network inspect "${PROJECT}_cluster" --format '{{.NetworkInterface}}')
ip link set dev "$BRIDGE" address "$(cat "/sys/class/net/$BRIDGE/address")"
log "ok pinned the MAC address of bridge $BRIDGE ($(cat "/sys/class/net/$BRIDGE/address"))"

export RPMEM_DRILL_RESULT=$WORK/drill-result.json
# In the background, so that a signal to this script runs the teardown at once (bash runs traps
# only between commands, and `wait` is interruptible); the teardown stops the drill first.
timeout --kill-after=10 1800 node test/compose/drill.js &
DRILL_PID=$!
drill_rc=0
wait "$DRILL_PID" || drill_rc=$?
DRILL_PID=
log "drill exit $drill_rc"

timed "docker-compose down -v" 120 docker-compose down -v --remove-orphans -t 5
exit "$drill_rc"
