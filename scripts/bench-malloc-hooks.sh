#!/usr/bin/env bash
# Measures what the agent's malloc hooks cost on samples/native/malloc_churn (a request-like
# churn of small blocks): nanoseconds per allocation and free pair without and with the agent,
# taking turns, and the median of the run-by-run ratios. Prints one Markdown table.
# Usage: scripts/bench-malloc-hooks.sh [RUNS] (default 7). Needs a build (ROUTEHEAP_BUILD_DIR,
# default build/) with lib/librouteheap.so and samples/native/malloc_churn.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/bench-common.sh
source "$REPO_DIR/scripts/bench-common.sh"
BUILD_DIR="${ROUTEHEAP_BUILD_DIR:-$REPO_DIR/build}"
AGENT="$BUILD_DIR/lib/librouteheap.so"
CHURN="$BUILD_DIR/samples/native/malloc_churn"
RUNS="${1:-7}"

fail() { printf 'bench-malloc-hooks: error: %s\n' "$*" >&2; exit 1; }
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || fail "invalid run count '$RUNS'; give a positive number"
[[ -f "$AGENT" ]] || fail "$AGENT not found: build first (scripts/setup.sh) or set ROUTEHEAP_BUILD_DIR"
[[ -x "$CHURN" ]] || fail "$CHURN not found: build first (scripts/setup.sh) or set ROUTEHEAP_BUILD_DIR"

WORK_DIR="$(mktemp -d /tmp/routeheap-hooks-XXXXXX)"
trap 'rm -rf "$WORK_DIR"' EXIT

ns_per_pair() { awk '/ns per pair/ { print $1 }'; }

for ((run = 1; run <= RUNS; run++)); do
  none="$("$CHURN" | ns_per_pair)"
  mkdir -p "$WORK_DIR/t$run"
  agent="$(LD_PRELOAD="$AGENT" ROUTEHEAP_OUTPUT_DIR="$WORK_DIR/t$run" "$CHURN" | ns_per_pair)"
  echo "$none $agent" >>"$WORK_DIR/runs"
  printf 'bench-malloc-hooks: run %d: %s ns without the agent, %s ns with it\n' "$run" "$none" "$agent" >&2
done

printf '| configuration | ns per allocation and free (median of %d runs) | ratio, run by run | all runs |\n' "$RUNS"
printf '|---|---|---|---|\n'
printf '| none | %s | 1.000 | %s |\n' "$(awk '{ print $1 }' "$WORK_DIR/runs" | median)" \
  "$(awk '{ printf "%s ", $1 }' "$WORK_DIR/runs")"
printf '| routeheap | %s | %s | %s |\n' "$(awk '{ print $2 }' "$WORK_DIR/runs" | median)" \
  "$(awk '{ print $2 / $1 }' "$WORK_DIR/runs" | median | awk '{ printf "%.2f", $1 }')" \
  "$(awk '{ printf "%s ", $2 }' "$WORK_DIR/runs")"
