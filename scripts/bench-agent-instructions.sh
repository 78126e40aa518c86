#!/usr/bin/env bash
# Counts the instructions the agent runs on node's main thread per GET /health request of the
# sample server, by part (HTTP framing, heap counting, counter samples, trace records, stack
# samples, mappings), and node's own, under callgrind. Throughput moves by a few percent from
# one process to the next on a shared machine. These counts repeat to within a few percent, so
# they show whether a change to a hot path made the agent's work smaller. Prints one Markdown
# table.
#
# Usage: scripts/bench-agent-instructions.sh [--vary-requests] [SECONDS [PROFILE]]
# SECONDS of wrk load are counted (default 30). PROFILE, when given, receives a copy of the main
# thread's callgrind profile, for callgrind_annotate. With --vary-requests, every request carries
# a header with a new value, so no request head repeats the one before it on its connection.
# Needs a build (ROUTEHEAP_BUILD_DIR, default build/) with lib/librouteheap.so, valgrind
# (apt-get install valgrind) and wrk. The server binds to 127.0.0.1 on a free port.
#
# NOTE: node serves about 60 times fewer requests per second under valgrind, and V8 compiles
# other code there. Node's own count is therefore a rough guide, and the agent's share of it an
# estimate. The agent's framing, samples and records do not depend on the JIT, but its heap
# counting follows the number of allocations node makes per request.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${ROUTEHEAP_BUILD_DIR:-$REPO_DIR/build}"
AGENT="$(realpath -m "$BUILD_DIR/lib/librouteheap.so")"
SERVER="$REPO_DIR/samples/node-routes/server.js"
VARY_REQUESTS=0
if [[ "${1:-}" == "--vary-requests" ]]; then
  VARY_REQUESTS=1
  shift
fi
SECONDS_COUNTED="${1:-30}"
PROFILE="${2:-}"
WARM_SECONDS=20   # JIT warm-up under valgrind before the counters are zeroed
START_TIMEOUT_S=240

fail() { printf 'bench-agent-instructions: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'bench-agent-instructions: %s\n' "$*" >&2; }

[[ "$SECONDS_COUNTED" =~ ^[1-9][0-9]*$ ]] || fail "invalid SECONDS '$SECONDS_COUNTED'; give a positive number"
[[ -f "$AGENT" ]] || fail "$AGENT not found: build first (scripts/setup.sh) or set ROUTEHEAP_BUILD_DIR"
for tool in valgrind callgrind_control callgrind_annotate wrk node; do
  command -v "$tool" >/dev/null || fail "$tool not found: apt-get install -y valgrind wrk"
done

WORK_DIR="$(mktemp -d /tmp/routeheap-instructions-XXXXXX)"
server_pid=""
cleanup() {
  trap '' INT TERM HUP
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -INT "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mkdir -p "$WORK_DIR/traces"
OUT="$WORK_DIR/callgrind.out"
# --smc-check=all-non-file lets valgrind see V8's code patches. Each thread gets its own output file.
PORT=0 LD_PRELOAD="$AGENT" ROUTEHEAP_OUTPUT_DIR="$WORK_DIR/traces" \
  NODE_OPTIONS="--perf-basic-prof-only-functions --interpreted-frames-native-stack" \
  valgrind --tool=callgrind --separate-threads=yes --smc-check=all-non-file --callgrind-out-file="$OUT" \
  node "$SERVER" >"$WORK_DIR/server.log" 2>&1 &
server_pid=$!

port=""
for ((i = 0; i < START_TIMEOUT_S * 2; ++i)); do
  port="$(sed -n 's|.*127\.0\.0\.1:\([0-9][0-9]*\).*|\1|p' "$WORK_DIR/server.log" | head -1)"
  [[ -n "$port" ]] && break
  kill -0 "$server_pid" 2>/dev/null || fail "the server under valgrind exited: $(tail -3 "$WORK_DIR/server.log")"
  sleep 0.5
done
[[ -n "$port" ]] || fail "the server did not listen within ${START_TIMEOUT_S} s under valgrind"

WRK_SCRIPT=()
if ((VARY_REQUESTS)); then
  # wrk.format() adds the Host header to the ones given.
  cat >"$WORK_DIR/vary.lua" <<'LUA'
local sent = 0
request = function()
  sent = sent + 1
  return wrk.format(nil, nil, { ["X-Request-Number"] = tostring(sent) })
end
LUA
  WRK_SCRIPT=(-s "$WORK_DIR/vary.lua")
fi

requests_of() { awk '/requests in/ { print $1 }'; }
log "warming up for ${WARM_SECONDS} s on port $port"
wrk -t1 -c10 -d"${WARM_SECONDS}s" "${WRK_SCRIPT[@]}" "http://127.0.0.1:$port/health" >/dev/null
callgrind_control -z "$server_pid" >/dev/null 2>&1
requests="$(wrk -t1 -c10 -d"${SECONDS_COUNTED}s" "${WRK_SCRIPT[@]}" "http://127.0.0.1:$port/health" | requests_of)"
callgrind_control -d "$server_pid" >/dev/null 2>&1
[[ "$requests" =~ ^[1-9][0-9]*$ ]] || fail "wrk completed no requests under valgrind"
log "$requests requests counted"

# The dump triggered above, thread 1 (node's main thread).
main_thread="$OUT.1-01"
[[ -f "$main_thread" ]] || fail "callgrind wrote no $main_thread"
[[ -z "$PROFILE" ]] || cp "$main_thread" "$PROFILE"

# Self cost per function, read from the callgrind file itself. Agent code is every instruction
# in the agent's object, with the code inlined from other headers (libstdc++'s atomics, SSE
# intrinsics). callgrind_annotate lists such code under the header's name without the object.
# Each function goes to the first part whose pattern its name matches. In the file, names and
# objects are compressed as "(id) name" on first use and "(id)" after it, and the cost line after
# a "calls=" line is the call's inclusive cost, which the callee's own lines already count.
awk -v requests="$requests" -v warm="$WARM_SECONDS" -v vary="$VARY_REQUESTS" -v agent="$(realpath "$AGENT")" '
    function expand_name(value, table,    id) {
      if (match(value, /^\([0-9]+\)/)) {
        id = substr(value, 2, RLENGTH - 2)
        if (RLENGTH < length(value)) table[id] = substr(value, RLENGTH + 2)
        return table[id]
      }
      return value
    }
    /^positions:/ { positions = NF - 1; next }
    /^totals:/ { total = $2; next }
    /^ob=/ { object = expand_name(substr($0, 4), objects); next }
    /^cob=/ { expand_name(substr($0, 5), objects); next }
    /^fn=/ { function_name = expand_name(substr($0, 4), functions); next }
    /^cfn=/ { expand_name(substr($0, 5), functions); next }
    /^calls=/ { skip_call_cost = 1; next }
    /^[0-9+*-]/ {
      if (skip_call_cost) { skip_call_cost = 0; next }
      if (object != agent) next
      count = $(positions + 1)
      symbol = function_name
      if (symbol ~ /mprotect|mmap|munmap|madvise|mremap|AddressRanges|commit/) part = "mappings"
      else if (symbol ~ /walk_stack|capture_stack|stack_id|record_sampled|StackTable|draw_exponential|should_sample|step_|FrameRule|run_instructions|Reader::/) part = "stack samples"
      else if (symbol ~ /read_counter|read_counters|sum_all_thread_totals|read_rss|take_peak/) part = "counter samples"
      else if (symbol ~ /emit_record|try_push|RecordEvents|compact_|own_ring|request_opened|request_closed|finish_call/) part = "trace records"
      else if (symbol ~ /allocate|release|count_allocation|count_free|operator new|operator delete|(^|[^_a-z])(malloc|free)|calloc|realloc|usable|BlockSizes|publish_live|memalign/) part = "heap counting"
      else if (symbol ~ /http::|read|write|connection|find_slot|tracked|accept|shutdown|close/) part = "HTTP framing"
      else part = "other"
      by_part[part] += count
      agent_total += count
    }
    END {
      if (total == 0) { print "bench-agent-instructions: error: no program total in the callgrind output" > "/dev/stderr"; exit 1 }
      if (agent_total == 0) { print "bench-agent-instructions: error: no instruction of " agent " in the callgrind output: check that the server preloaded this agent" > "/dev/stderr"; exit 1 }
      printf "| code on node'\''s main thread | instructions per request |\n|---|---|\n"
      parts = split("HTTP framing,heap counting,counter samples,trace records,stack samples,mappings,other", order, ",")
      for (i = 1; i <= parts; ++i) if (order[i] in by_part) printf "| agent: %s | %.0f |\n", order[i], by_part[order[i]] / requests
      printf "| agent, all | %.0f |\n", agent_total / requests
      printf "| node and its libraries | %.0f |\n", (total - agent_total) / requests
      printf "| agent share of the thread'\''s instructions | %.2f%% |\n", 100 * agent_total / total
      printf "\n%d requests under `wrk -t1 -c10`%s, counted by callgrind after a %d s warm-up.\n", requests,
        vary ? ", each with a new X-Request-Number header" : "", warm
    }' "$main_thread"
