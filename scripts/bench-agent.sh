#!/usr/bin/env bash
# Measures what the agent costs the sample server, side by side with no profiler and heaptrack:
# wall time of sequential /buffered uploads, /health throughput under wrk, trace bytes per
# allocation call and report time. Prints Markdown tables.
# Usage: scripts/bench-agent.sh [RUNS [THROUGHPUT_RUNS]] (default 5 runs, and as many throughput runs)
#
# Needs a build (ROUTEHEAP_BUILD_DIR, default build/) with bin/routeheap and bin/trace_dump,
# samples/node-routes/data/asn-ipv4.csv (scripts/setup.sh), heaptrack, curl, wrk and GNU time
# (Debian package time), which counts the times wrk sleeps.
# Every server binds to 127.0.0.1 on a free port and is stopped with SIGINT after each run.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bench-common.sh
source "$REPO_DIR/scripts/bench-common.sh"
BUILD_DIR="${ROUTEHEAP_BUILD_DIR:-$REPO_DIR/build}"
SAMPLE_DIR="$REPO_DIR/samples/node-routes"
ROUTEHEAP="$BUILD_DIR/bin/routeheap"
AGENT="$BUILD_DIR/lib/librouteheap.so"
# What `routeheap record` adds to NODE_OPTIONS, so JIT frames can be named.
NODE_PERF_OPTIONS="--perf-basic-prof-only-functions --interpreted-frames-native-stack"
TRACE_DUMP="$BUILD_DIR/bin/trace_dump"
SOURCE_CSV="$SAMPLE_DIR/data/asn-ipv4.csv"

RUNS="${1:-5}"
THROUGHPUT_RUNS="${2:-$RUNS}"
UPLOADS=20
CSV_BYTES=4800000     # the upload: whole rows from the start of asn-ipv4.csv, about 4.8 MB
WRK_SECONDS=10        # of load per configuration and run,
SLICE_SECONDS=1       # in slices this long
WRK_CONNECTIONS=10
START_TIMEOUT_S=60
STOP_TIMEOUT_S=60
# The configurations of the /health runs, and agent libraries by configuration name for more of
# them (scripts/bench-agent-parts.sh sets both).
THROUGHPUT_CONFIGS=(none node-flags routeheap heaptrack)
declare -A EXTRA_AGENTS=()

log() { printf 'bench: %s\n' "$*" >&2; }
fail() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

WORK_DIR=""
wrapper_pid=""
server_log=""
server_port=""
server_pid=""   # the node process itself

# start_server's globals for each server of a throughput run, by configuration, because all of
# them run at once.
declare -A running_wrapper running_log running_port running_pid

cleanup() {
  # A second Ctrl-C or TERM must not cut the cleanup short and leave servers running.
  trap '' INT TERM HUP
  stop_server || true
  stop_running_servers || true
  [[ -n "$WORK_DIR" ]] && rm -rf "$WORK_DIR"
}

check_tools() {
  [[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || fail "invalid RUNS \"$RUNS\": expected a positive integer"
  [[ "$THROUGHPUT_RUNS" =~ ^[1-9][0-9]*$ ]] ||
    fail "invalid THROUGHPUT_RUNS \"$THROUGHPUT_RUNS\": expected a positive integer"
  [[ -x "$ROUTEHEAP" ]] || fail "$ROUTEHEAP not found: build first or set ROUTEHEAP_BUILD_DIR"
  [[ -f "$AGENT" ]] || fail "$AGENT not found: build first or set ROUTEHEAP_BUILD_DIR"
  [[ -x "$TRACE_DUMP" ]] || fail "$TRACE_DUMP not found: build the trace_dump target"
  [[ -f "$SOURCE_CSV" ]] || fail "$SOURCE_CSV not found: run scripts/setup.sh"
  local tool
  for tool in node curl wrk heaptrack heaptrack_print; do
    command -v "$tool" >/dev/null || fail "$tool not found: install it (Debian packages nodejs, curl, wrk, heaptrack)"
  done
  [[ -x /usr/bin/time ]] || fail "/usr/bin/time not found: install it (Debian package time)"
}

# Cuts the source file after the last whole row within CSV_BYTES.
make_upload() {
  head -c "$CSV_BYTES" "$SOURCE_CSV" | sed '$d' >"$WORK_DIR/upload.csv"
}

# Starts the sample server under CONFIG (none, node-flags, routeheap, routeheap-exact,
# heaptrack, or a name in EXTRA_AGENTS) with its trace in OUT (a trace folder or heaptrack file
# prefix) and its console output in LOG (default server.log in the work folder), and sets
# server_port. node-flags is node with record's NODE_OPTIONS and no agent. The agent is
# preloaded the way `routeheap record` does it, but without record's live request lines, so the
# figures are the agent's own cost.
start_server() {
  local config="$1" out="$2"
  server_log="${3:-$WORK_DIR/server.log}"
  : >"$server_log"
  # The agent configurations differ only in the library and the sampling interval.
  local agent="$AGENT" sample_bytes=262144
  case "$config" in
    none | node-flags | heaptrack | routeheap) ;;
    routeheap-exact) sample_bytes=1 ;;
    *)
      agent="${EXTRA_AGENTS[$config]:-}"
      [[ -n "$agent" ]] || fail "unknown configuration $config"
      ;;
  esac
  # Job control gives the server its own process group and keeps SIGINT deliverable.
  set -m
  case "$config" in
    none) PORT=0 node "$SAMPLE_DIR/server.js" >"$server_log" 2>&1 </dev/null & ;;
    node-flags)
      PORT=0 NODE_OPTIONS="$NODE_PERF_OPTIONS" node "$SAMPLE_DIR/server.js" >"$server_log" 2>&1 </dev/null &
      ;;
    heaptrack) PORT=0 heaptrack -o "$out" node "$SAMPLE_DIR/server.js" >"$server_log" 2>&1 </dev/null & ;;
    *)
      mkdir -p "$out"
      PORT=0 LD_PRELOAD="$agent" ROUTEHEAP_OUTPUT_DIR="$out" ROUTEHEAP_SAMPLE_BYTES="$sample_bytes" \
        NODE_OPTIONS="$NODE_PERF_OPTIONS" node "$SAMPLE_DIR/server.js" >"$server_log" 2>&1 </dev/null &
      ;;
  esac
  wrapper_pid=$!
  set +m

  local waited=0 port=""
  while ((waited < START_TIMEOUT_S * 10)); do
    port="$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\) .*|\1|p' "$server_log" | head -n1)"
    if [[ -n "$port" ]]; then
      server_port="$port"
      server_pid="$(sed -n 's|^listening on .*(pid \([0-9]*\)).*|\1|p' "$server_log" | head -n1)"
      return 0
    fi
    kill -0 "$wrapper_pid" 2>/dev/null || break
    sleep 0.1
    waited=$((waited + 1))
  done
  cat "$server_log" >&2
  kill -0 "$wrapper_pid" 2>/dev/null ||
    fail "the server under $config exited before printing its port: see its output above (run scripts/setup.sh if a module is missing)"
  fail "the server under $config did not print its port within ${START_TIMEOUT_S} s"
}

# Sends SIGINT to the node server itself (its pid is in the "listening" line) and waits for
# the started process (heaptrack's script, or node itself) to exit.
stop_server() {
  [[ -n "$wrapper_pid" ]] || return 0
  local pid="$wrapper_pid" node_pid
  wrapper_pid=""
  node_pid="$(sed -n 's|^listening on .*(pid \([0-9]*\)).*|\1|p' "$server_log" | head -n1)"
  [[ -n "$node_pid" ]] && kill -INT "$node_pid" 2>/dev/null || true
  local waited=0
  while kill -0 "$pid" 2>/dev/null && ((waited < STOP_TIMEOUT_S * 10)); do
    sleep 0.1
    waited=$((waited + 1))
  done
  kill -0 "$pid" 2>/dev/null && { log "pid $pid still running after SIGINT, sending SIGTERM"; kill -TERM "$pid" 2>/dev/null || true; }
  wait "$pid" 2>/dev/null || true
  # The perf map that node writes under the routeheap configurations.
  [[ -n "$node_pid" ]] && rm -f "/tmp/perf-$node_pid.map"
  return 0
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# CPU time (user + system) the process has used so far, in ms. Unlike wall time it hardly
# depends on what else runs on the machine. Threads of the process count (the agent's writer
# thread among them); other processes do not (heaptrack_interpret and its compressor).
process_cpu_ms() {
  local ticks
  ticks="$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat")"
  echo $((ticks * 1000 / $(getconf CLK_TCK)))
}

# Uploads the CSV UPLOADS times in sequence; prints the wall time and the server's CPU time in ms.
time_uploads() {
  local port="$1" start end cpu_start i
  cpu_start="$(process_cpu_ms "$server_pid")"
  start="$(now_ms)"
  for ((i = 0; i < UPLOADS; i++)); do
    curl -sf -o /dev/null --max-time 120 -H 'Content-Type: text/csv' --data-binary @"$WORK_DIR/upload.csv" \
      "http://127.0.0.1:$port/buffered" || fail "upload $i to /buffered failed"
  done
  end="$(now_ms)"
  echo "$((end - start)) $(($(process_cpu_ms "$server_pid") - cpu_start))"
}

# Nanoseconds the main thread (the one whose id is the process id) has run so far, from the
# scheduler's statistics.
main_thread_run_ns() { awk '{ print $1 }' "/proc/$1/task/$1/schedstat"; }

# Nanoseconds all threads of the process (the agent's writer thread among them) have run so far,
# from the scheduler's statistics. Threads that exit between two readings are left out of the
# second. Other processes are not counted: heaptrack_interpret and its compressor among them.
process_run_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ ns += $1 } END { printf "%.0f\n", ns }'; }

# One slice of load: wrk on PORT for SLICE_SECONDS. Prints the requests, wrk's duration in s, the
# slice's wall time in ns, the ns that the server PID's threads and its main thread ran, and how
# many times wrk slept waiting for a response (its voluntary context switches, from GNU time).
# Node's main thread wakes wrk each time. In a virtual machine whose idle vCPUs halt, each such
# wake-up costs the waking thread an interrupt to the other vCPU.
measure_slice() {
  local port="$1" pid="$2" run_start main_start start output
  kill -0 "$pid" 2>/dev/null ||
    fail "the server on port $port (pid $pid) exited during the throughput run: see $WORK_DIR/server-*.log"
  run_start="$(process_run_ns "$pid")"
  main_start="$(main_thread_run_ns "$pid")"
  start="$(date +%s%N)"
  output="$(/usr/bin/time -f '%w' -o "$WORK_DIR/wrk-sleeps" \
    wrk -t1 -c"$WRK_CONNECTIONS" -d"${SLICE_SECONDS}s" "http://127.0.0.1:$port/health")"
  local wall=$(($(date +%s%N) - start))
  local sleeps
  sleeps="$(tail -n1 "$WORK_DIR/wrk-sleeps")"
  local main_run=$(($(main_thread_run_ns "$pid") - main_start))
  local run=$(($(process_run_ns "$pid") - run_start))
  if grep -qE 'Non-2xx|Socket errors' <<<"$output"; then
    fail "wrk saw failed requests on port $port (pid $pid): $(grep -E 'Non-2xx|Socket errors' <<<"$output")"
  fi
  # wrk prints "N requests in 1.00s, ..." with the duration in us, ms, s or m.
  awk -v wall="$wall" -v run="$run" -v main_run="$main_run" -v sleeps="$sleeps" '/requests in/ && $1 > 0 {
      duration = $4; sub(/,$/, "", duration); scale = 1
      if (duration ~ /us$/) { sub(/us$/, "", duration); scale = 1e-6 }
      else if (duration ~ /ms$/) { sub(/ms$/, "", duration); scale = 1e-3 }
      else if (duration ~ /m$/) { sub(/m$/, "", duration); scale = 60 }
      else { sub(/s$/, "", duration) }
      printf "%d %.6f %d %d %d %d\n", $1, duration * scale, wall, run, main_run, sleeps; found = 1 }
    END { if (!found) exit 1 }' <<<"$output" || fail "wrk completed no request on port $port (pid $pid)"
}

# Sums one run's slices of a configuration (measure_slice lines) into requests per second, the
# server's CPU ms per 1000 requests, the main thread's CPU us per request, the share of the
# wall time it ran, and wrk's sleeps per request. Node serves every request on its main thread,
# so the throughput is about its busy share divided by its CPU per request.
sum_slices() {
  awk '{ requests += $1; seconds += $2; wall += $3; run += $4; main_run += $5; sleeps += $6 }
    END {
      printf "%.2f %.3f %.3f %.4f %.4f\n", requests / seconds, run / 1e6 * 1000 / requests,
        main_run / 1000 / requests, main_run / wall, sleeps / requests
    }' "$1"
}

column_median() { awk -v c="$1" '{ print $c }' "$2" | median; }

# The median over runs of column C of FILE divided by the same run's column C of BASE_FILE.
# Runs of all configurations take turns, so pairing each run with the baseline run next to it
# cancels most of a shared machine's drift, which a ratio of two medians would keep.
pair_ratio() {
  paste -d' ' "$2" "$3" | awk -v c="$1" -v n="$(awk 'NR == 1 { print NF }' "$2")" '{ print $c / $(n + c) }' |
    median | awk '{ printf "%.3f", $1 }'
}

# Allocation calls counted by the agent (last CounterSample of each trace) and trace bytes.
routeheap_calls() {
  local trace total=0 calls
  for trace in "$1"/*.rhtrace; do
    calls="$("$TRACE_DUMP" "$trace" | awk '$1 == "type" && $2 == 1 { for (i = 3; i < NF; i++) if ($i == "calls") c = $(i + 1) } END { print c + 0 }')"
    total=$((total + calls))
  done
  echo "$total"
}

routeheap_bytes() { cat "$1"/*.rhtrace | wc -c; }

heaptrack_calls() { heaptrack_print "$1" 2>/dev/null | sed -n 's/^calls to allocation functions: \([0-9]*\).*/\1/p'; }

time_command_ms() {
  local start end
  start="$(now_ms)"
  "$@" >/dev/null 2>&1 || fail "$* failed"
  end="$(now_ms)"
  echo $((end - start))
}

# The configurations take turns run by run, so a slow phase of a shared machine falls on all of
# them instead of on whichever configuration ran during it.

# Prints the configurations rotated by the first argument, so that over the runs each one takes
# every place in a round.
rotated() {
  local shift="$1"
  shift
  local -a configs=("$@")
  local i
  for ((i = 0; i < ${#configs[@]}; i++)); do
    printf '%s\n' "${configs[(i + shift) % ${#configs[@]}]}"
  done
}

# Prints the configurations in an order drawn from SEED, the same order for the same seed. A
# rotation keeps each configuration's neighbours, so each round of slices uses such an order
# instead. The work a server leaves after its slice (heaptrack's interpreter, for one) then falls
# on every other configuration in turn.
shuffled() {
  local seed="$1"
  shift
  printf '%s\n' "$@" | awk -v seed="$seed" 'BEGIN { srand(seed) } { print rand() "\t" $0 }' | sort -n | cut -f2-
}

run_upload_benchmark() {
  local config run out
  for ((run = 1; run <= RUNS; run++)); do
    for config in $(rotated $((run - 1)) none routeheap routeheap-exact heaptrack); do
      out="$WORK_DIR/$config-$run"
      start_server "$config" "$out"
      time_uploads "$server_port" >>"$WORK_DIR/upload-$config.ms"
      stop_server
      case "$config" in
        routeheap | routeheap-exact)
          echo "$(routeheap_bytes "$out") $(routeheap_calls "$out")" >>"$WORK_DIR/bytes-$config"
          time_command_ms "$ROUTEHEAP" report "$(ls "$out"/*.rhtrace | head -n1)" >>"$WORK_DIR/report-$config.ms"
          ;;
        heaptrack)
          echo "$(wc -c <"$out".zst) $(heaptrack_calls "$out".zst)" >>"$WORK_DIR/bytes-$config"
          time_command_ms heaptrack_print "$out".zst >>"$WORK_DIR/report-$config.ms"
          ;;
      esac
      rm -rf "$out" "$out".zst
      log "uploads $config run $run: wall/CPU $(tail -n1 "$WORK_DIR/upload-$config.ms") ms"
    done
  done
}

# Stops the servers that run_throughput_benchmark started.
stop_running_servers() {
  local config
  for config in "${!running_wrapper[@]}"; do
    wrapper_pid="${running_wrapper[$config]}"
    server_log="${running_log[$config]}"
    stop_server
    unset "running_wrapper[$config]"
  done
}

# Each run starts a server per configuration and keeps them all up, warms each with one slice,
# then gives each WRK_SECONDS of wrk in slices of SLICE_SECONDS, taking turns. A shared machine's
# speed drifts within minutes, so the turns spread that drift over all configurations of a run.
# One node process can be several percent faster than the next, so every run starts new ones.
run_throughput_benchmark() {
  local config run slice
  local -a configs
  for ((run = 1; run <= THROUGHPUT_RUNS; run++)); do
    mapfile -t configs < <(rotated $((run - 1)) "${THROUGHPUT_CONFIGS[@]}")
    for config in "${configs[@]}"; do
      start_server "$config" "$WORK_DIR/wrk-$config-$run" "$WORK_DIR/server-$config.log"
      running_wrapper[$config]="$wrapper_pid"
      running_log[$config]="$server_log"
      running_port[$config]="$server_port"
      running_pid[$config]="$server_pid"
      wrapper_pid=""
      : >"$WORK_DIR/slices-$config"
    done
    for config in "${configs[@]}"; do
      measure_slice "${running_port[$config]}" "${running_pid[$config]}" >/dev/null
    done
    for ((slice = 0; slice < WRK_SECONDS / SLICE_SECONDS; slice++)); do
      for config in $(shuffled $((run * 1000 + slice)) "${configs[@]}"); do
        measure_slice "${running_port[$config]}" "${running_pid[$config]}" >>"$WORK_DIR/slices-$config"
      done
    done
    stop_running_servers
    for config in "${configs[@]}"; do
      finish_run "$config" "$run"
    done
  done
}

# Adds run RUN of CONFIG, whose server has stopped, to its results (sum_slices), removes its
# output and logs the run's figures.
finish_run() {
  local config="$1" run="$2"
  sum_slices "$WORK_DIR/slices-$config" >>"$WORK_DIR/wrk-$config.rps"
  rm -rf "$WORK_DIR/wrk-$config-$run" "$WORK_DIR/wrk-$config-$run".zst
  log "wrk $config run $run: requests/s, CPU ms per 1000, main thread us per request, busy share and wrk sleeps per request: $(tail -n1 "$WORK_DIR/wrk-$config.rps")"
}

print_results() {
  local config median_ms median_cpu median_rps per_call
  printf '\n### %d sequential uploads of %s bytes to /buffered (median of %d runs)\n\n' \
    "$UPLOADS" "$(wc -c <"$WORK_DIR/upload.csv")" "$RUNS"
  printf '| configuration | wall time (ms) | ratio, run by run | server CPU (ms) | CPU ratio, run by run | all runs: wall/CPU (ms) |\n'
  printf '|---|---|---|---|---|---|\n'
  for config in none routeheap routeheap-exact heaptrack; do
    median_ms="$(column_median 1 "$WORK_DIR/upload-$config.ms")"
    median_cpu="$(column_median 2 "$WORK_DIR/upload-$config.ms")"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$config" "$median_ms" \
      "$(pair_ratio 1 "$WORK_DIR/upload-$config.ms" "$WORK_DIR/upload-none.ms")" "$median_cpu" \
      "$(pair_ratio 2 "$WORK_DIR/upload-$config.ms" "$WORK_DIR/upload-none.ms")" \
      "$(awk '{ printf "%s/%s ", $1, $2 }' "$WORK_DIR/upload-$config.ms")"
  done

  printf '\n### GET /health under wrk -t1 -c%d, %d s per configuration in %d s turns (median of %d runs)\n\n' \
    "$WRK_CONNECTIONS" "$WRK_SECONDS" "$SLICE_SECONDS" "$THROUGHPUT_RUNS"
  printf '| configuration | requests/s | ratio, run by run | server CPU ms per 1000 requests | CPU ratio, run by run | ratios of all runs, sorted |\n'
  printf '|---|---|---|---|---|---|\n'
  for config in "${THROUGHPUT_CONFIGS[@]}"; do
    median_rps="$(column_median 1 "$WORK_DIR/wrk-$config.rps")"
    median_cpu="$(column_median 2 "$WORK_DIR/wrk-$config.rps")"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$config" "$median_rps" \
      "$(pair_ratio 1 "$WORK_DIR/wrk-$config.rps" "$WORK_DIR/wrk-none.rps")" "$median_cpu" \
      "$(pair_ratio 2 "$WORK_DIR/wrk-$config.rps" "$WORK_DIR/wrk-none.rps")" \
      "$(paste -d' ' "$WORK_DIR/wrk-$config.rps" "$WORK_DIR/wrk-none.rps" | awk '{ print $1 / $(NF / 2 + 1) }' | sort -g |
        awk '{ printf "%.3f ", $1 }')"
  done

  printf '\n### Node'"'"'s main thread in the same runs (median of %d runs)\n\n' "$THROUGHPUT_RUNS"
  printf '| configuration | CPU us per request | ratio, run by run | share of the time it ran | ratio, run by run | wrk sleeps per request |\n'
  printf '|---|---|---|---|---|---|\n'
  for config in "${THROUGHPUT_CONFIGS[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s |\n' "$config" "$(column_median 3 "$WORK_DIR/wrk-$config.rps")" \
      "$(pair_ratio 3 "$WORK_DIR/wrk-$config.rps" "$WORK_DIR/wrk-none.rps")" \
      "$(column_median 4 "$WORK_DIR/wrk-$config.rps")" \
      "$(pair_ratio 4 "$WORK_DIR/wrk-$config.rps" "$WORK_DIR/wrk-none.rps")" \
      "$(column_median 5 "$WORK_DIR/wrk-$config.rps")"
  done

  printf '\n### Trace size and report time on the upload runs (median of %d runs)\n\n' "$RUNS"
  printf '| configuration | trace bytes | allocation calls | bytes per call | report time (ms) |\n|---|---|---|---|---|\n'
  for config in routeheap routeheap-exact heaptrack; do
    per_call="$(awk '$2 > 0 { print $1 / $2 }' "$WORK_DIR/bytes-$config" | median)"
    printf '| %s | %s | %s | %.3f | %s |\n' "$config" "$(awk '{ print $1 }' "$WORK_DIR/bytes-$config" | median)" \
      "$(awk '{ print $2 }' "$WORK_DIR/bytes-$config" | median)" "$per_call" "$(median <"$WORK_DIR/report-$config.ms")"
  done
}

main() {
  check_tools
  WORK_DIR="$(mktemp -d /tmp/routeheap-bench-XXXXXX)"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  make_upload
  log "load before: $(uptime)"
  run_upload_benchmark
  run_throughput_benchmark
  log "load after: $(uptime)"
  print_results
}

# Sourced by another script, this file only defines its functions and settings, and sets the
# shell options of its first lines in that script.
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  main "$@"
fi
