#!/usr/bin/env bash
# Compares cgibench's fastcgi strategy with lighttpd's mod_fastcgi, both running the libfcgi C
# reference app with the same number of workers, loaded by the same generator at the same
# concurrency in alternating rounds; prints req/s and the ratio, and each front end's own CPU time
# per request (the workers excluded).
#
#   scripts/bench-fastcgi.sh [DURATION=10s] [CONCURRENCY=8] [WORKERS=2] [ROUNDS=3]
#
# Both front ends get one thread: lighttpd serves from a single event loop, and so does
# cgibench's default front end (FASTCGI_FRONT_END=net/http serves through net/http instead),
# with cgibench serve run with GOMAXPROCS=1. Set SERVE_GOMAXPROCS to give cgibench more (empty: Go's default, one
# per CPU). Both reach their workers over unix sockets; FASTCGI_NETWORK=tcp gives cgibench's
# workers TCP ports instead (lighttpd, which connects anew for every request, is slower on TCP). Why: the front end only moves bytes between sockets, and on a small machine, where
# the workers and the load generator need the same CPUs, a second P costs more than it gives
# (threads that spin and wake each other for every goroutine handoff).
#
# Loopback only. Needs lighttpd (apt-get install lighttpd); uses wrk when installed.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
CONC=${2:-8}
WORKERS=${3:-2}
ROUNDS=${4:-3}
SERVE_GOMAXPROCS=${SERVE_GOMAXPROCS-1}
FASTCGI_NETWORK=${FASTCGI_NETWORK:-unix}
FASTCGI_FRONT_END=${FASTCGI_FRONT_END:-event-loop}
command -v lighttpd >/dev/null || { echo "bench-fastcgi: lighttpd not found: apt-get install lighttpd" >&2; exit 1; }
. scripts/bench-lib.sh

go build -o "$tmp/cgibench" ./cmd/cgibench
app=$("$tmp/cgibench" programs --mode fastcgi --path c)
p1=$(free_port); p2=$(free_port)
env ${SERVE_GOMAXPROCS:+GOMAXPROCS="$SERVE_GOMAXPROCS"} "$tmp/cgibench" serve --strategy fastcgi --program c --workers "$WORKERS" --fastcgi-network "$FASTCGI_NETWORK" --fastcgi-front-end "$FASTCGI_FRONT_END" --listen "127.0.0.1:$p1" >"$tmp/serve.out" 2>"$tmp/serve.log" &
pids+=($!)

mkdir -p "$tmp/www"
cat >"$tmp/lighttpd.conf" <<CONF
server.modules = ("mod_fastcgi")
server.document-root = "$tmp/www"
server.bind = "127.0.0.1"
server.port = $p2
server.errorlog = "$tmp/lighttpd.err"
server.max-keep-alive-requests = 100000
fastcgi.server = ("/app" => ((
	"socket" => "$tmp/fcgi.sock",
	"bin-path" => "$app",
	"max-procs" => $WORKERS,
	"check-local" => "disable"
)))
CONF
lighttpd -D -f "$tmp/lighttpd.conf" &
pids+=($!)
wait_http "http://127.0.0.1:$p1/app" "http://127.0.0.1:$p2/app"

echo "libfcgi C app: $app; $WORKERS workers; c=$CONC; $DURATION per measurement; $ROUNDS alternating rounds; cgibench GOMAXPROCS=${SERVE_GOMAXPROCS:-default}, $FASTCGI_FRONT_END front end, workers on $FASTCGI_NETWORK sockets; load: $(cut -d' ' -f1-3 /proc/loadavg)"
compare "cgibench fastcgi" "lighttpd mod_fastcgi" "http://127.0.0.1:$p1/app" "http://127.0.0.1:$p2/app" "${pids[0]}" "${pids[1]}"
