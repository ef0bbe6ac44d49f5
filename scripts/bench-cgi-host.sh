#!/usr/bin/env bash
# Compares cgibench's CGI host with net/http/cgi serving the same static C app, loaded by the
# same generator at the same concurrency, in alternating rounds; prints req/s and the ratio.
#
#   scripts/bench-cgi-host.sh [DURATION=10s] [CONCURRENCY=8] [ROUNDS=3]
#
# Loopback only. Uses wrk when installed (apt-get install wrk), and cgibench's own generator.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
CONC=${2:-8}
ROUNDS=${3:-3}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/cgibench" ./cmd/cgibench
go build -o "$tmp/nethttpcgi" ./scripts/bench/nethttpcgi
app=$("$tmp/cgibench" programs --mode cgi --path c-static)

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
p1=$(free_port); p2=$(free_port)
"$tmp/cgibench" serve --strategy cgi --program c-static --listen "127.0.0.1:$p1" >"$tmp/serve.out" 2>"$tmp/serve.log" &
pids+=($!)
"$tmp/nethttpcgi" --listen "127.0.0.1:$p2" --program "$app" 2>"$tmp/nethttpcgi.log" &
pids+=($!)
for i in $(seq 50); do
	if curl -fsS "http://127.0.0.1:$p1/app" >/dev/null 2>&1 && curl -fsS "http://127.0.0.1:$p2/app" >/dev/null 2>&1; then break; fi
	sleep 0.1
done

url1="http://127.0.0.1:$p1/app"
url2="http://127.0.0.1:$p2/app"
# cgibench load sends its get workload (query strings, a cookie); wrk sends one fixed GET.
rps_cgibench_load() { "$tmp/cgibench" load "$1" --concurrency "$CONC" --duration "$DURATION" --warmup 1s --json "$tmp/l.json" >/dev/null && python3 -c 'import json,sys; print("%.0f" % json.load(open(sys.argv[1]))["cells"][0]["throughput_rps"])' "$tmp/l.json"; }
rps_wrk() { wrk -t2 -c"$CONC" -d"$DURATION" "$1?name=value&visits=1" | awk '/Requests\/sec/ {printf "%.0f\n", $2}'; }

gens=(cgibench_load)
command -v wrk >/dev/null && gens+=(wrk)
echo "static C app: $app; c=$CONC; $DURATION per measurement; $ROUNDS alternating rounds"
for gen in "${gens[@]}"; do
	a=(); b=()
	for r in $(seq "$ROUNDS"); do
		a+=("$("rps_$gen" "$url1")")
		b+=("$("rps_$gen" "$url2")")
	done
	python3 - "$gen" "${a[*]}" "${b[*]}" <<'PY'
import statistics, sys
gen, a, b = sys.argv[1], list(map(float, sys.argv[2].split())), list(map(float, sys.argv[3].split()))
ma, mb = statistics.median(a), statistics.median(b)
print(f"{gen:14s} cgibench cgi host {ma:8.0f} req/s   net/http/cgi {mb:8.0f} req/s   ratio {ma/mb:.2f}x   (rounds: {a} vs {b})")
PY
done
