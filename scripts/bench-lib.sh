# Shared by the bench-*.sh comparison scripts: sourced, not run.
# Provides: tmp (a scratch folder removed at exit), pids (killed at exit), free_port,
# wait_http URL..., rps_cgibench_load URL [extra flags], rps_wrk URL, compare LABEL_A LABEL_B URL_A URL_B.

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_http waits until every URL answers 2xx (10 s at most).
wait_http() {
	for _ in $(seq 100); do
		local ok=1
		for u in "$@"; do curl -fsS "$u" >/dev/null 2>&1 || ok=0; done
		[ "$ok" = 1 ] && return 0
		sleep 0.1
	done
	echo "bench: $* did not answer" >&2
	return 1
}

# rps_cgibench_load prints the req/s of cgibench's own generator (get workload) against URL,
# and fails if any request failed.
rps_cgibench_load() {
	local url=$1; shift
	"$tmp/cgibench" load "$url" --concurrency "$CONC" --duration "$DURATION" --warmup 1s --json "$tmp/l.json" "$@" >/dev/null &&
		python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["cells"][0]; assert not c["errors"], c["errors"]; print("%.0f" % c["throughput_rps"])' "$tmp/l.json"
}

# rps_wrk prints wrk's req/s against URL (one fixed GET with a query string).
rps_wrk() { wrk -t2 -c"$CONC" -d"$DURATION" "$1?name=value&visits=1" | awk '/Requests\/sec/ {printf "%.0f\n", $2}'; }

# compare measures URL_A and URL_B alternately, ROUNDS times, with each generator available,
# and prints the medians and their ratio.
compare() {
	local la=$1 lb=$2 ua=$3 ub=$4 gens=(cgibench_load)
	command -v wrk >/dev/null && gens+=(wrk)
	for gen in "${gens[@]}"; do
		local a=() b=()
		for _ in $(seq "$ROUNDS"); do
			a+=("$("rps_$gen" "$ua")")
			b+=("$("rps_$gen" "$ub")")
		done
		python3 - "$gen" "$la" "$lb" "${a[*]}" "${b[*]}" <<'PY'
import statistics, sys
gen, la, lb = sys.argv[1:4]
a, b = list(map(float, sys.argv[4].split())), list(map(float, sys.argv[5].split()))
ma, mb = statistics.median(a), statistics.median(b)
print(f"{gen:14s} {la} {ma:8.0f} req/s   {lb} {mb:8.0f} req/s   ratio {ma/mb:.2f}x   (rounds: {a} vs {b})")
PY
	done
}
