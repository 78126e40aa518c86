#!/usr/bin/env bash
# Throughput and peak RSS of csv2json next to cat, Miller and csv-parser on large CSV files built
# by repeating the rows of asn-ipv4.csv and of oui.csv (CRLF, quoted line breaks). Prints a
# Markdown table per file: median wall and CPU time of RUNS runs, MB/s (10^6 bytes), peak RSS
# and wall-time ratios. Usage: bench.sh [--size BYTES] [--runs N] [--scratch DIR] [--csv2json PATH]
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/../../.." && pwd)"
SIZE=$((1024 * 1024 * 1024))
RUNS=3
SCRATCH="${TMPDIR:-/tmp}/csv2json-bench"
CSV2JSON="$REPO_DIR/build/bin/csv2json"
ASN_DATA="$REPO_DIR/samples/node-routes/data/asn-ipv4.csv"
OUI_DATA="/usr/share/ieee-data/oui.csv"

fail() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

while (($#)); do
  case "$1" in
    --size) SIZE="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --scratch) SCRATCH="$2"; shift 2 ;;
    --csv2json) CSV2JSON="$2"; shift 2 ;;
    -h | --help) sed -n '2,6s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) fail "unknown option '$1': see bench.sh --help" ;;
  esac
done
[[ "$SIZE" =~ ^[0-9]+$ && "$SIZE" -gt 0 ]] || fail "invalid --size '$SIZE': a positive number of bytes"
[[ "$RUNS" =~ ^[0-9]+$ && "$RUNS" -gt 0 ]] || fail "invalid --runs '$RUNS': a positive count"
[[ -x "$CSV2JSON" ]] || fail "csv2json not found at $CSV2JSON: build it, or pass --csv2json PATH"
[[ -f "$ASN_DATA" ]] || fail "missing $ASN_DATA: run scripts/setup.sh"
[[ -f "$OUI_DATA" ]] || fail "missing $OUI_DATA: apt-get install ieee-data"
[[ -d "$REPO_DIR/samples/node-routes/node_modules/csv-parser" ]] || fail "csv-parser is not installed: run scripts/setup.sh"

# Miller and GNU time are needed only here, so they are installed here rather than by setup.sh.
install_tool() {
  local command="$1" package="$2"
  if ! command -v "$command" >/dev/null 2>&1; then
    ((EUID == 0)) || fail "$command is missing: apt-get install $package"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$package" >/dev/null
  fi
}
install_tool mlr miller
[[ -x /usr/bin/time ]] || install_tool /usr/bin/time time

# Writes OUTPUT: the header of SOURCE, then its data rows repeated until OUTPUT has SIZE bytes or
# more. Kept between runs when its size already matches.
make_input() {
  local source="$1" output="$2"
  if [[ -f "$output" ]] && (($(stat -c %s "$output") >= SIZE)); then
    return
  fi
  local rows="$SCRATCH/rows.tmp"
  tail -n +2 "$source" >"$rows"
  local rows_size repeats
  rows_size=$(stat -c %s "$rows")
  repeats=$(((SIZE + rows_size - 1) / rows_size))
  {
    head -n 1 "$source"
    for ((i = 0; i < repeats; i++)); do cat "$rows"; done
  } >"$output.partial"
  rm -f "$rows"
  mv "$output.partial" "$output"
}

# Prints the median of its arguments.
median() {
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# Runs a command RUNS times with stdout to /dev/null; prints "median_wall_seconds
# median_cpu_seconds peak_rss_kib". CPU time (user + system) is less sensitive than wall time to
# other processes sharing the machine.
measure() {
  local times=() cpu_times=() peak=0 run log="$SCRATCH/time.log"
  for ((run = 0; run < RUNS; run++)); do
    # Wall time from the clock in nanoseconds: /usr/bin/time prints only hundredths.
    local start end rss user system
    start=$(date +%s%N)
    /usr/bin/time -f '%M %U %S' -o "$log" "$@" >/dev/null 2>"$SCRATCH/stderr.log" ||
      fail "$* failed: $(tail -n 3 "$SCRATCH/stderr.log")"
    end=$(date +%s%N)
    read -r rss user system <"$log"
    times+=("$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')")
    cpu_times+=("$(awk -v u="$user" -v s="$system" 'BEGIN { printf "%.2f", u + s }')")
    ((rss > peak)) && peak=$rss
  done
  echo "$(median "${times[@]}") $(median "${cpu_times[@]}") $peak"
}

report_file() {
  local label="$1" file="$2"
  local bytes
  bytes=$(stat -c %s "$file")
  printf '\n%s: %s bytes, median of %s runs\n\n' "$label" "$bytes" "$RUNS"
  printf '| tool | command | wall (s) | MB/s | CPU (s) | peak RSS (MiB) | wall time / csv2json NDJSON |\n'
  printf '|---|---|---|---|---|---|---|\n'

  local names=(cat "csv2json NDJSON" "csv2json JSON array" "csv2json NDJSON, scalar" Miller csv-parser)
  local commands=(
    "cat $file"
    "$CSV2JSON --ndjson $file"
    "$CSV2JSON $file"
    "$CSV2JSON --ndjson --engine scalar $file"
    "mlr --icsv --ojsonl cat $file"
    "node $SCRIPT_DIR/csv_parser_ndjson.js $file")
  local reference=""
  local index
  for index in "${!names[@]}"; do
    local result seconds cpu rss
    # shellcheck disable=SC2086 # the commands are plain words without quoting
    result=$(measure ${commands[$index]})
    read -r seconds cpu rss <<<"$result"
    [[ -z "$reference" && "${names[$index]}" == "csv2json NDJSON" ]] && reference="$seconds"
    local speedup="-"
    if [[ -n "$reference" && "${names[$index]}" != "csv2json NDJSON" ]]; then
      speedup=$(awk -v a="$seconds" -v b="$reference" 'BEGIN { printf "%.1fx", a / b }')
    fi
    local display="${commands[$index]//$SCRATCH\//}"
    display="${display//$CSV2JSON/csv2json}"
    display="${display//$SCRIPT_DIR\//}"
    awk -v n="${names[$index]}" -v c="$display" -v s="$seconds" -v b="$bytes" -v u="$cpu" -v r="$rss" \
      -v x="$speedup" \
      'BEGIN { printf "| %s | `%s` | %.3f | %.0f | %.2f | %.1f | %s |\n", n, c, s, b / s / 1e6, u, r / 1024, x }'
  done
}

mkdir -p "$SCRATCH"
printf 'csv2json benchmark, %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
printf 'CPU: %s, %s cores; load before: %s\n' "$(lscpu | sed -n 's/^Model name: *//p' | head -1)" \
  "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'csv2json engine: %s; Miller %s; node %s\n' "$("$CSV2JSON" --version | sed 's/.*engine \(.*\))/\1/')" \
  "$(mlr --version | awk '{ print $2 }')" "$(node --version)"

make_input "$ASN_DATA" "$SCRATCH/asn-large.csv"
make_input "$OUI_DATA" "$SCRATCH/oui-large.csv"
report_file "asn-ipv4.csv rows" "$SCRATCH/asn-large.csv"
report_file "oui.csv rows (CRLF, quoted line breaks)" "$SCRATCH/oui-large.csv"
printf '\nload after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
