#!/usr/bin/env bash
# Compares cgibench's CGI host with net/http/cgi serving the same static C app, loaded by the
# same generator at the same concurrency in alternating rounds; prints req/s and the ratio, and
# each host's own CPU time per request (the CGI programs excluded).
#
#   scripts/bench-cgi-host.sh [DURATION=10s] [CONCURRENCY=8] [ROUNDS=3]
#
# Loopback only. Uses wrk when installed (apt-get install wrk), and cgibench's own generator.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
CONC=${2:-8}
ROUNDS=${3:-3}
. scripts/bench-lib.sh

go build -o "$tmp/cgibench" ./cmd/cgibench
go build -o "$tmp/nethttpcgi" ./scripts/bench/nethttpcgi
app=$("$tmp/cgibench" programs --mode cgi --path c-static)
p1=$(free_port); p2=$(free_port)
"$tmp/cgibench" serve --strategy cgi --program c-static --listen "127.0.0.1:$p1" >"$tmp/serve.out" 2>"$tmp/serve.log" &
pids+=($!)
"$tmp/nethttpcgi" --listen "127.0.0.1:$p2" --program "$app" 2>"$tmp/nethttpcgi.log" &
pids+=($!)
wait_http "http://127.0.0.1:$p1/app" "http://127.0.0.1:$p2/app"

echo "static C app: $app; c=$CONC; $DURATION per measurement; $ROUNDS alternating rounds; load: $(cut -d' ' -f1-3 /proc/loadavg)"
compare "cgibench cgi host" "net/http/cgi" "http://127.0.0.1:$p1/app" "http://127.0.0.1:$p2/app" "${pids[0]}" "${pids[1]}"
