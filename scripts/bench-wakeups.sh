#!/usr/bin/env bash
# Measures what a background thread's wake-ups alone cost the /health throughput of the sample
# server: node with NODE_OPTIONS as routeheap sets them (node-flags), and the same with a
# preloaded thread that only sleeps in a loop of 10 ms or 50 ms (scripts/wakeups/). The agent's
# writer thread wakes on the same kind of timer, so this separates the cost of waking from the
# cost of the work done when awake. Prints a Markdown table.
#
# The /health turns of bench-agent.sh keep every configuration's server running, which would
# spread one server's wake-ups over all of them. Here only one server runs at a time, and each
# run starts and stops the configurations in turn, in a rotated order.
# Usage: scripts/bench-wakeups.sh [RUNS] (default 15)
#
# Needs scripts/setup.sh to have run (the sample server's npm packages), wrk, GNU time (Debian
# package time) and a C compiler.
# The preloads are built in a temporary folder.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bench-agent.sh
source "$REPO_DIR/scripts/bench-agent.sh"
log() { printf 'bench-wakeups: %s\n' "$*" >&2; }
fail() { printf 'bench-wakeups: error: %s\n' "$*" >&2; exit 1; }

THROUGHPUT_RUNS="${1:-15}"
INTERVALS_MS=(10 50)

check_inputs() {
  [[ "$THROUGHPUT_RUNS" =~ ^[1-9][0-9]*$ ]] || fail "invalid RUNS \"$THROUGHPUT_RUNS\": expected a positive integer"
  (($# <= 1)) || fail "unexpected argument \"$2\": the only argument is RUNS"
  local tool
  for tool in node wrk cc; do
    command -v "$tool" >/dev/null || fail "$tool not found: install it (Debian packages nodejs, wrk, gcc)"
  done
  [[ -x /usr/bin/time ]] || fail "/usr/bin/time not found: install it (Debian package time)"
  (cd "$SAMPLE_DIR" && node -e "require.resolve('csv-parser')" 2>/dev/null) ||
    fail "the sample server's npm packages are missing in $SAMPLE_DIR: run scripts/setup.sh"
}

# Builds one preload per interval and registers it as configuration wake-Nms. bench-agent.sh
# starts such a configuration like an agent build: LD_PRELOAD, NODE_OPTIONS and ROUTEHEAP_*
# variables, which the preload ignores.
build_preloads() {
  local interval
  for interval in "${INTERVALS_MS[@]}"; do
    cc -O2 -shared -fPIC -DWAKEUP_INTERVAL_US=$((interval * 1000)) -o "$WORK_DIR/wakeup-$interval.so" \
      "$REPO_DIR/scripts/wakeups/wakeup_thread.c" -lpthread || fail "building the $interval ms preload failed"
    EXTRA_AGENTS[wake-${interval}ms]="$WORK_DIR/wakeup-$interval.so"
  done
}

print_wakeups() {
  printf '\n### GET /health under wrk -t1 -c%d, %d s per configuration in %d s slices, one server at a time (median of %d runs)\n\n' \
    "$WRK_CONNECTIONS" "$WRK_SECONDS" "$SLICE_SECONDS" "$THROUGHPUT_RUNS"
  printf '| configuration | requests/s | ratio to node-flags, run by run | main thread CPU per request, ratio | main thread busy share, ratio | wrk sleeps per request |\n'
  printf '|---|---|---|---|---|---|\n'
  local config baseline="$WORK_DIR/wrk-node-flags.rps"
  for config in "${THROUGHPUT_CONFIGS[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s |\n' "$config" "$(column_median 1 "$WORK_DIR/wrk-$config.rps")" \
      "$(pair_ratio 1 "$WORK_DIR/wrk-$config.rps" "$baseline")" "$(pair_ratio 3 "$WORK_DIR/wrk-$config.rps" "$baseline")" \
      "$(pair_ratio 4 "$WORK_DIR/wrk-$config.rps" "$baseline")" "$(column_median 5 "$WORK_DIR/wrk-$config.rps")"
  done
}

# One run: each configuration's server alone, one warm-up slice, then WRK_SECONDS of slices.
run_one_at_a_time() {
  local run config slice
  local -a configs
  for ((run = 1; run <= THROUGHPUT_RUNS; run++)); do
    mapfile -t configs < <(rotated $((run - 1)) "${THROUGHPUT_CONFIGS[@]}")
    for config in "${configs[@]}"; do
      start_server "$config" "$WORK_DIR/wrk-$config-$run" "$WORK_DIR/server-$config.log"
      measure_slice "$server_port" "$server_pid" >/dev/null
      : >"$WORK_DIR/slices-$config"
      for ((slice = 0; slice < WRK_SECONDS / SLICE_SECONDS; slice++)); do
        measure_slice "$server_port" "$server_pid" >>"$WORK_DIR/slices-$config"
      done
      stop_server
      finish_run "$config" "$run"
    done
  done
}

wakeups_main() {
  check_inputs "$@"
  WORK_DIR="$(mktemp -d /tmp/routeheap-bench-wakeups-XXXXXX)"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  build_preloads
  THROUGHPUT_CONFIGS=(node-flags wake-10ms wake-50ms)
  log "load before: $(uptime)"
  run_one_at_a_time
  log "load after: $(uptime)"
  print_wakeups
}

# On one line, so that bash has read all it runs even if the file changes during the run.
wakeups_main "$@"; exit
