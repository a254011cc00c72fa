# Shared by the compose scripts: timestamps, log lines, commands bounded in time, and podman's
# configuration.
# The sourcing script sets T0 (start time), WORK (a temp dir) and LOG_TAG before using them.

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
log() { printf '[%s %6ss] %s\n' "$LOG_TAG" "$(elapsed "$T0")" "$*"; }

# timed LABEL SECONDS CMD... -- run CMD (a program or a function of the sourcing script) with a
# time limit, its output to a log file ($LAST_LOG); print the time taken, or the log's tail on failure.
timed() {
  local label=$1 limit=$2 t rc=0 out
  shift 2
  out="$WORK/$(printf '%s' "$label" | tr -c 'A-Za-z0-9' '_').log"
  LAST_LOG=$out
  t=$(date +%s.%N)
  log "$label ..."
  if declare -F "$1" >/dev/null; then
    # timeout runs programs only: hand the function to a child bash (its variables are exported).
    timeout --kill-after=10 "$limit" bash -c "set -euo pipefail; $(declare -f "$1"); \"\$@\"" _ "$@" >"$out" 2>&1 || rc=$?
  else
    timeout --kill-after=10 "$limit" "$@" >"$out" 2>&1 || rc=$?
  fi
  if ((rc != 0)); then
    log "FAILED: $label (exit $rc after $(elapsed "$t") s; limit ${limit} s): $*"
    tail -n 80 "$out" | sed 's/^/    /'
    return "$rc"
  fi
  log "ok $label ($(elapsed "$t") s)"
}

# podman_config -- write a containers.conf into $WORK and point podman at it (CONTAINERS_CONF; /etc
# is not touched). default_ulimits: the default nofile request fails (no CAP_SYS_RESOURCE); runc:
# crun fails on the hybrid cgroups; cgroupfs and the file events logger: no systemd here.
podman_config() {
  cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
  export CONTAINERS_CONF=$WORK/containers.conf
}
