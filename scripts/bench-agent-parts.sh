#!/usr/bin/env bash
# Measures which part of the agent's work per request costs the /health throughput. Builds the
# agent of the committed HEAD as it is, and once per patch in scripts/agent-parts/, each patch
# switching one part off. Then runs the /health turns of bench-agent.sh on all of them and on
# node without an agent, and prints a Markdown table. With --base REV, the agent of commit REV
# runs beside them as configuration base-REV, to compare a change with the agent before it.
# Usage: scripts/bench-agent-parts.sh [--base REV] [RUNS] (default 15)
#
# The patches:
#   without-requests         No socket bytes reach the framer. The agent counts the heap but
#                            frames no request, so its writer samples at the idle interval.
#   without-request-records  Requests are framed and sampled. Their compact records are built and
#                            then dropped, so for small requests such as /health the writer
#                            thread has no work per request.
#   without-request-samples  Requests take no counter samples. Their records then go to the ring
#                            whole instead of compacted. That is about as many bytes, but the
#                            writer packs only compact records, so zstd gets several times more.
#                            With no request samples, the writer also takes its periodic samples
#                            every ROUTEHEAP_SAMPLE_MS (10 ms) while requests are open.
#
# Needs scripts/setup.sh to have run (the sample server's npm packages), wrk, GNU time (Debian
# package time), cmake and a C++ compiler. The builds go to a temporary folder, and nothing in the
# repository changes.
# ROUTEHEAP_BUILD_DIR is not used: every agent is built here with the same options.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bench-agent.sh
source "$REPO_DIR/scripts/bench-agent.sh"
log() { printf 'bench-agent-parts: %s\n' "$*" >&2; }
fail() { printf 'bench-agent-parts: error: %s\n' "$*" >&2; exit 1; }

BASE_REV=""
if [[ "${1:-}" == "--base" ]]; then
  [[ -n "${2:-}" ]] || fail "--base needs a commit"
  BASE_REV="$2"
  shift 2
fi
THROUGHPUT_RUNS="${1:-15}"
PARTS_DIR="$REPO_DIR/scripts/agent-parts"
PARTS=(without-requests without-request-records without-request-samples)

check_inputs() {
  [[ "$THROUGHPUT_RUNS" =~ ^[1-9][0-9]*$ ]] || fail "invalid RUNS \"$THROUGHPUT_RUNS\": expected a positive integer"
  (($# <= 1)) || fail "unexpected argument \"$2\": the only argument is RUNS"
  local tool
  for tool in node wrk cmake git; do
    command -v "$tool" >/dev/null || fail "$tool not found: install it (Debian packages nodejs, wrk, cmake, git)"
  done
  [[ -x /usr/bin/time ]] || fail "/usr/bin/time not found: install it (Debian package time)"
  (cd "$SAMPLE_DIR" && node -e "require.resolve('csv-parser')" 2>/dev/null) ||
    fail "the sample server's npm packages are missing in $SAMPLE_DIR: run scripts/setup.sh"
  local part
  for part in "${PARTS[@]}"; do
    [[ -f "$PARTS_DIR/$part.patch" ]] || fail "$PARTS_DIR/$part.patch not found"
  done
  if [[ -n "$BASE_REV" ]]; then
    git -C "$REPO_DIR" rev-parse --verify --quiet "$BASE_REV^{commit}" >/dev/null ||
      fail "--base $BASE_REV is not a commit of $REPO_DIR"
    # The configuration's name goes into file names, so a name such as origin/main becomes its hash.
    BASE_REV="$(git -C "$REPO_DIR" rev-parse --short "$BASE_REV^{commit}")"
  fi
}

# Builds the agent from SOURCE into WORK_DIR/build-NAME and registers it as configuration NAME.
build_agent() {
  local name="$1" source="$2" build="$WORK_DIR/build-$1"
  log "building the agent: $name"
  cmake -S "$source" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROUTEHEAP_BUILD_TESTS=OFF \
    >"$build.log" 2>&1 || { cat "$build.log" >&2; fail "configuring the $name build failed"; }
  cmake --build "$build" --target routeheap_agent -j"$(nproc)" >>"$build.log" 2>&1 ||
    { tail -n 30 "$build.log" >&2; fail "building the $name agent failed"; }
  EXTRA_AGENTS[$name]="$build/lib/librouteheap.so"
}

# Builds every agent from one source tree of HEAD, applying each patch and taking it back out in
# turn. A patch that no longer applies stops the script with its name.
build_agents() {
  local source="$WORK_DIR/source" part
  mkdir -p "$source"
  git -C "$REPO_DIR" archive HEAD | tar -x -C "$source"
  for part in "${PARTS[@]}"; do
    git -C "$source" apply --check "$PARTS_DIR/$part.patch" 2>"$WORK_DIR/apply.log" ||
      { cat "$WORK_DIR/apply.log" >&2; fail "$part.patch does not apply to HEAD: update it"; }
  done
  build_agent all-parts "$source"
  if [[ -n "$BASE_REV" ]]; then
    mkdir -p "$WORK_DIR/base-source"
    git -C "$REPO_DIR" archive "$BASE_REV" | tar -x -C "$WORK_DIR/base-source"
    build_agent "base-$BASE_REV" "$WORK_DIR/base-source"
  fi
  for part in "${PARTS[@]}"; do
    git -C "$source" apply "$PARTS_DIR/$part.patch"
    build_agent "$part" "$source"
    git -C "$source" apply -R "$PARTS_DIR/$part.patch" 2>"$WORK_DIR/apply.log" ||
      { cat "$WORK_DIR/apply.log" >&2; fail "taking $part.patch back out failed"; }
  done
}

# The columns of sum_slices: requests/s, the server's CPU us per request (all threads), the main
# thread's CPU us per request, its busy share and wrk's sleeps per request. The other threads'
# CPU per request is the writer thread's work, with V8's and libuv's helpers.
print_parts() {
  printf '\n### GET /health under wrk -t1 -c%d, %d s per configuration in %d s turns (median of %d runs)\n\n' \
    "$WRK_CONNECTIONS" "$WRK_SECONDS" "$SLICE_SECONDS" "$THROUGHPUT_RUNS"
  printf '| configuration | requests/s | ratio, run by run | main thread CPU per request, ratio | main thread busy share, ratio | other threads, CPU ns per request | wrk sleeps per request |\n'
  printf '|---|---|---|---|---|---|---|\n'
  local config baseline="$WORK_DIR/wrk-none.rps"
  for config in "${THROUGHPUT_CONFIGS[@]}"; do
    printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$config" "$(column_median 1 "$WORK_DIR/wrk-$config.rps")" \
      "$(pair_ratio 1 "$WORK_DIR/wrk-$config.rps" "$baseline")" "$(pair_ratio 3 "$WORK_DIR/wrk-$config.rps" "$baseline")" \
      "$(pair_ratio 4 "$WORK_DIR/wrk-$config.rps" "$baseline")" \
      "$(awk '{ printf "%.0f\n", ($2 - $3) * 1000 }' "$WORK_DIR/wrk-$config.rps" | median)" \
      "$(column_median 5 "$WORK_DIR/wrk-$config.rps")"
  done
}

parts_main() {
  check_inputs "$@"
  WORK_DIR="$(mktemp -d /tmp/routeheap-bench-parts-XXXXXX)"
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  build_agents
  THROUGHPUT_CONFIGS=(none all-parts ${BASE_REV:+"base-$BASE_REV"} "${PARTS[@]}")
  log "load before: $(uptime)"
  run_throughput_benchmark
  log "load after: $(uptime)"
  print_parts
}

# On one line, so that bash has read all it runs even if the file changes during the run.
parts_main "$@"; exit
