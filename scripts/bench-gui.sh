#!/usr/bin/env bash
# Measures how long routeheap-gui takes from opening a large session to its first painted
# timeline. Records the sample server with every allocation stacked (ROUTEHEAP_SAMPLE_BYTES=1,
# the fastest way to grow a trace) under sequential uploads until the session reaches the
# target size, then runs `routeheap-gui --time-first-paint` on it RUNS times.
# Usage: scripts/bench-gui.sh [SIZE_MB] [RUNS]   (defaults 1024 and 3)
#        scripts/bench-gui.sh --session DIR [RUNS]   (time an existing session)
#
# Needs a build (ROUTEHEAP_BUILD_DIR, default build/) with bin/routeheap, bin/routeheap-gui and
# lib/librouteheap.so, and /usr/share/ieee-data/oui.csv (Debian package ieee-data). The server
# binds to 127.0.0.1 on a free port and is stopped with SIGINT. The session is deleted at the
# end unless ROUTEHEAP_BENCH_KEEP is set.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${ROUTEHEAP_BUILD_DIR:-$REPO_DIR/build}"
ROUTEHEAP="$BUILD_DIR/bin/routeheap"
GUI="$BUILD_DIR/bin/routeheap-gui"
AGENT="$BUILD_DIR/lib/librouteheap.so"
SERVER="$REPO_DIR/samples/node-routes/server.js"
DRIVER="$REPO_DIR/samples/node-routes/drive.js"
UPLOAD="/usr/share/ieee-data/oui.csv"
START_TIMEOUT_S=60
STOP_TIMEOUT_S=120
# Recording stops after this long even when the session is still smaller than the target.
MAX_RECORD_S=3600
UPLOADS_PER_ROUND=5

log() { printf 'bench-gui: %s\n' "$*" >&2; }
fail() { printf 'bench-gui: error: %s\n' "$*" >&2; exit 1; }

SESSION=""
SIZE_MB=1024
if [[ "${1:-}" == "--session" ]]; then
  SESSION="${2:-}"
  [[ -d "$SESSION" ]] || fail "--session needs an existing session folder, got \"$SESSION\""
  RUNS="${3:-3}"
else
  SIZE_MB="${1:-1024}"
  RUNS="${2:-3}"
  [[ "$SIZE_MB" =~ ^[1-9][0-9]*$ ]] || fail "invalid SIZE_MB \"$SIZE_MB\": expected a positive integer (megabytes)"
fi
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || fail "invalid RUNS \"$RUNS\": expected a positive integer"

WORK_DIR=""
record_pid=""

cleanup() {
  if [[ -n "$record_pid" ]] && kill -0 "$record_pid" 2>/dev/null; then
    kill -INT "$record_pid" 2>/dev/null || true
    wait "$record_pid" 2>/dev/null || true
  fi
  if [[ -n "$WORK_DIR" && -z "${ROUTEHEAP_BENCH_KEEP:-}" ]]; then
    rm -rf "$WORK_DIR"
  elif [[ -n "$WORK_DIR" ]]; then
    log "kept $WORK_DIR (ROUTEHEAP_BENCH_KEEP is set)"
  fi
}
trap cleanup EXIT

check_tools() {
  [[ -x "$GUI" ]] || fail "$GUI not found: build the routeheap-gui target or set ROUTEHEAP_BUILD_DIR"
  [[ -n "$SESSION" ]] && return
  [[ -x "$ROUTEHEAP" ]] || fail "$ROUTEHEAP not found: build first or set ROUTEHEAP_BUILD_DIR"
  [[ -f "$AGENT" ]] || fail "$AGENT not found: build first or set ROUTEHEAP_BUILD_DIR"
  [[ -f "$UPLOAD" ]] || fail "$UPLOAD not found: install the Debian package ieee-data"
  command -v node >/dev/null || fail "node not found: run scripts/setup.sh"
}

session_mb() { du -sm "$1" | cut -f1; }

# Starts the sample server under `routeheap record`, uploads until the session reaches
# SIZE_MB megabytes, then stops it.
record_session() {
  WORK_DIR="$(mktemp -d /tmp/routeheap-bench-gui-XXXXXX)"
  SESSION="$WORK_DIR/session"
  local out="$WORK_DIR/record.out"
  (cd "$WORK_DIR" && PORT=0 ROUTEHEAP_AGENT="$AGENT" ROUTEHEAP_SAMPLE_BYTES=1 \
    exec "$ROUTEHEAP" record --output "$SESSION" -- node "$SERVER" >"$out" 2>"$WORK_DIR/record.err") &
  record_pid=$!

  local port="" waited=0
  while [[ -z "$port" ]]; do
    port="$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$out" 2>/dev/null | grep -o '[0-9]*$' || true)"
    [[ -n "$port" ]] && break
    kill -0 "$record_pid" 2>/dev/null || fail "routeheap record exited before the server listened: $(cat "$WORK_DIR/record.err")"
    (( waited++ < START_TIMEOUT_S * 5 )) || fail "the server printed no port within ${START_TIMEOUT_S} s"
    sleep 0.2
  done
  log "recording on 127.0.0.1:$port until the session reaches $SIZE_MB MB"

  local started=$SECONDS
  while (( $(session_mb "$SESSION") < SIZE_MB )); do
    (( SECONDS - started < MAX_RECORD_S )) || { log "stopped recording after ${MAX_RECORD_S} s"; break; }
    node "$DRIVER" --port "$port" --routes /buffered,/stream --repeat "$UPLOADS_PER_ROUND" "$UPLOAD" >/dev/null \
      || fail "drive.js failed against 127.0.0.1:$port"
  done

  kill -INT "$record_pid"
  local stop_waited=0
  while kill -0 "$record_pid" 2>/dev/null; do
    (( stop_waited++ < STOP_TIMEOUT_S * 5 )) || fail "routeheap record did not exit within ${STOP_TIMEOUT_S} s of SIGINT"
    sleep 0.2
  done
  wait "$record_pid" || true
  record_pid=""
}

check_tools
[[ -n "$SESSION" && -z "$WORK_DIR" ]] || record_session
log "session $SESSION: $(session_mb "$SESSION") MB in $(find "$SESSION" -name '*.rhtrace' | wc -l) traces"

echo "| run | open to first painted timeline (ms) |"
echo "|---|---|"
for run in $(seq 1 "$RUNS"); do
  line="$(QT_QPA_PLATFORM=offscreen "$GUI" --time-first-paint "$SESSION" 2>/dev/null)" \
    || fail "routeheap-gui --time-first-paint failed on $SESSION"
  ms="$(grep -o 'after [0-9]* ms' <<<"$line" | grep -o '[0-9]*')"
  echo "| $run | $ms |"
done
echo
echo "Session: $(session_mb "$SESSION") MB; command: QT_QPA_PLATFORM=offscreen $GUI --time-first-paint SESSION"
