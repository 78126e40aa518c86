#!/usr/bin/env bash
# Sets up and builds routeheap, records the sample server while the real CSV files are uploaded to
# each of its routes, then prints the report. Usage: scripts/demo.sh
# The session folder is left in build/demo/ so it can be reopened with `routeheap report`.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${ROUTEHEAP_BUILD_DIR:-$REPO_DIR/build}"
SAMPLE_DIR="$REPO_DIR/samples/node-routes"
ROUTEHEAP="$BUILD_DIR/bin/routeheap"
DATA_FILES=("$SAMPLE_DIR/data/asn-ipv4.csv" /usr/share/ieee-data/oui.csv)

# Seconds to wait for the server to print its port, and for it to exit after SIGINT.
START_TIMEOUT_S=60
STOP_TIMEOUT_S=60

log() { printf 'demo: %s\n' "$*"; }
fail() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

record_pid=""
server_log=""

# Stops the recorded server if it is still running (also when the demo is interrupted), so no
# server outlives the script.
stop_recording() {
  [[ -n "$record_pid" ]] || return 0
  local pid="$record_pid"
  record_pid=""
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }

  kill -INT "$pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null && ((waited < STOP_TIMEOUT_S * 10)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "routeheap record (pid $pid) still running ${STOP_TIMEOUT_S} s after SIGINT, sending SIGTERM"
    kill -TERM "$pid" 2>/dev/null || true
  fi
  local status=0
  wait "$pid" 2>/dev/null || status=$?
  return "$status"
}

wait_for_port() {
  local waited=0
  local port=""
  while ((waited < START_TIMEOUT_S * 10)); do
    port="$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\) .*|\1|p' "$server_log" | head -n1)"
    if [[ -n "$port" ]]; then
      printf '%s\n' "$port"
      return 0
    fi
    kill -0 "$record_pid" 2>/dev/null || break
    sleep 0.1
    waited=$((waited + 1))
  done
  cat "$server_log" >&2
  return 1
}

main() {
  bash "$REPO_DIR/scripts/setup.sh"
  [[ -x "$ROUTEHEAP" ]] || fail "$ROUTEHEAP was not built: check the build output above"

  local session_dir
  session_dir="$BUILD_DIR/demo/routeheap-$(date +%Y%m%d-%H%M%S)"
  mkdir -p "$BUILD_DIR/demo"
  server_log="$BUILD_DIR/demo/server-$(date +%Y%m%d-%H%M%S).log"
  # Created here, not by the redirection below, so wait_for_port never reads a missing file.
  : >"$server_log"

  # Without job control, bash starts background commands with SIGINT ignored. With it, the
  # recorded server gets its own process group and receives SIGINT from this script only.
  set -m
  trap 'stop_recording || true' EXIT
  trap 'exit 130' INT TERM
  log "starting: routeheap record --output $session_dir -- node samples/node-routes/server.js"
  # /stream-native pipes each upload through this build's csv2json.
  PORT=0 CSV2JSON="$BUILD_DIR/bin/csv2json" "$ROUTEHEAP" record --output "$session_dir" -- node "$SAMPLE_DIR/server.js" \
    >"$server_log" </dev/null &
  record_pid=$!
  set +m

  local port
  port="$(wait_for_port)" ||
    fail "the sample server did not print its port within ${START_TIMEOUT_S} s (its output is above, log in $server_log)"
  log "server listening on 127.0.0.1:$port, uploading ${DATA_FILES[*]}"

  local drive_status=0
  node "$SAMPLE_DIR/drive.js" --port "$port" "${DATA_FILES[@]}" || drive_status=$?

  local record_status=0
  stop_recording || record_status=$?
  cat "$server_log"
  ((drive_status == 0)) || fail "some uploads failed (driver exit status $drive_status): see the lines above"
  ((record_status == 0)) || log "routeheap record exited with status $record_status"

  printf '\n'
  log "routeheap report $session_dir"
  "$ROUTEHEAP" report "$session_dir"
}

main "$@"
