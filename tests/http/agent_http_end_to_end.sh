#!/bin/bash
# Runs a node:http server under the agent, sends keep-alive, upload, pipelined, HEAD
# and TLS traffic over 127.0.0.1, and checks the HTTP records in the trace. The
# server exits through process.exit(), so the agent's exit path runs too.
# Usage: agent_http_end_to_end.sh AGENT_SO TRACE_DUMP
set -euo pipefail
agent=$1
dump=$2
work=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then kill "$server_pid"; fi
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/server.js" <<'JS'
const http = require('http');
const server = http.createServer((req, res) => {
  if (req.url === '/quit') { res.end('bye', () => process.exit(0)); return; }
  let bytes = 0;
  req.on('data', (chunk) => { bytes += chunk.length; });
  req.on('end', () => res.end(`got ${bytes}`));
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
JS

LD_PRELOAD=$agent ROUTEHEAP_OUTPUT_DIR=$work node "$work/server.js" > "$work/port" 2> "$work/stderr" &
server_pid=$!
for _ in $(seq 50); do [[ -s $work/port ]] && break; sleep 0.1; done
port=$(cat "$work/port")
[[ -n $port ]] || { echo "FAIL: the server printed no port; stderr:"; cat "$work/stderr"; exit 1; }
base=http://127.0.0.1:$port

curl -sf --max-time 5 "$base/first?token=SECRET" "$base/second" > /dev/null
head -c 300000 /dev/zero | curl -sf --max-time 5 --data-binary @- "$base/upload" > /dev/null
curl -sf --max-time 5 -I "$base/head" > /dev/null
printf 'GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
    timeout 5 curl -s telnet://127.0.0.1:$port > /dev/null 2>&1 || true
printf '\x16\x03\x01\x00\x05hello' | timeout 2 curl -s telnet://127.0.0.1:$port > /dev/null 2>&1 || true
curl -sf --max-time 5 "$base/quit" > /dev/null || true
wait "$server_pid" || true
server_pid=

trace=$(ls "$work"/*.rhtrace | head -1)
"$dump" "$trace" > "$work/records"

failures=0
expect() {
    local pattern=$1 what=$2
    if ! grep -Eq -- "$pattern" "$work/records"; then
        echo "FAIL: no record for $what (pattern: $pattern)"
        failures=$((failures + 1))
    fi
}
expect 'request-head conn=[0-9]+ #0 GET /first flags=32 ' "the query string removed from /first"
expect 'request-head conn=[0-9]+ #1 GET /second flags=0 ' "the keep-alive request /second as index 1"
expect 'request-head conn=[0-9]+ #0 POST /upload flags=0 content_length=300000 ' "the upload head"
expect 'request-body .* total=300000 complete' "the whole upload body"
expect 'request-end conn=[0-9]+ #0 status=200 outcome=0 .* request_body=300000 ' "the upload's end"
expect 'request-head conn=[0-9]+ #0 HEAD /head ' "the HEAD request"
expect 'request-head conn=[0-9]+ #1 GET /p2 flags=4 ' "the second pipelined request"
expect 'framing-stopped conn=[0-9]+ TLS handshake' "the TLS handshake stop"
expect 'request-head conn=[0-9]+ #0 GET /quit ' "the /quit request"
expect 'connection-close conn=[0-9]+ reason=4' "a connection still open at process exit"
if grep -q SECRET "$work/records"; then
    echo "FAIL: the query string value reached the trace"
    failures=$((failures + 1))
fi
starts=$(grep -c 'request-head' "$work/records" || true)
ends=$(grep -c 'request-end' "$work/records" || true)
if [[ $starts -ne 7 ]]; then
    echo "FAIL: $starts request heads, expected 7"
    failures=$((failures + 1))
fi
# /first and /second each come in one read and go out in one write: a compact head and a
# compact response each (the dump prints them as the records they stand for).
compact=$(sed -n 's/^compact-records //p' "$work/records")
if [[ ${compact:-0} -lt 4 ]]; then
    echo "FAIL: ${compact:-no} compact records, expected at least 4 for the small keep-alive requests"
    failures=$((failures + 1))
fi

if [[ $failures -ne 0 ]]; then
    echo "--- records:"
    grep -v counter-sample "$work/records"
    echo "--- server stderr:"
    cat "$work/stderr"
    exit 1
fi
echo "ok: $starts request heads, $ends request ends, $compact compact records"
