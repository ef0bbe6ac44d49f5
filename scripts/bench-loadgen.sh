#!/usr/bin/env bash
# Measures cgibench's load generator next to wrk, on the same trivial target in the same run:
# requests per second, and the generator's own CPU time (user+sys of its process) per request,
# in alternating rounds (wrk -t1, wrk -t2, cgibench load), medians and ratios at the end.
#
#   scripts/bench-loadgen.sh [DURATION=10s] [CONCURRENCY=8] [ROUNDS=3]
#
# The target is scripts/bench/hello, a net/http hello on 127.0.0.1 with a fixed response. wrk is
# Debian's package (installed with apt-get when missing). cgibench runs `cgibench load` (closed
# loop, the get workload, verify off) with --warmup 0s, so that the CPU it is charged covers the
# requests it counts and no others, as wrk's does. Loopback only; the machine's load (uptime)
# is printed before and after: on a shared machine, compare figures of the same run only.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10s}
CONC=${2:-8}
ROUNDS=${3:-3}
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

if ! command -v wrk >/dev/null; then
	echo "installing wrk (Debian package)" >&2
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get install -y wrk >&2 || { $sudo apt-get update >&2 && $sudo apt-get install -y wrk >&2; }
fi

go build -o "$tmp/cgibench" ./cmd/cgibench
go build -o "$tmp/hello" ./scripts/bench/hello

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$tmp/hello" --listen "127.0.0.1:$port" 2>"$tmp/hello.log" &
pids+=($!)
url="http://127.0.0.1:$port/"
for _ in $(seq 50); do
	curl -fsS "$url" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -fsS "$url" >/dev/null

# measure GEN CMD...: runs CMD in a subshell whose `times` gives its children's CPU time, and
# appends "GEN REQUESTS SECONDS CPU_SECONDS" to $tmp/runs.
secs() { awk '{ split($0, a, /[ms]/); printf "%.3f\n", a[1]*60 + a[2] }' <<<"$1"; }
measure() {
	local gen=$1
	shift
	local t
	t=$( ("$@" >"$tmp/out" 2>"$tmp/err" || exit 1; times) | tail -1) || {
		echo "$gen failed:" >&2
		cat "$tmp/err" >&2
		exit 1
	}
	local cpu
	cpu=$(echo "$(secs "${t% *}") + $(secs "${t#* }")" | bc -l 2>/dev/null ||
		python3 -c "print($(secs "${t% *}") + $(secs "${t#* }"))")
	local n s
	case $gen in
	wrk*)
		n=$(awk '/requests in/ { print $1 }' "$tmp/out")
		s=$(awk '/requests in/ { sub(/s,$/, "", $4); print $4 }' "$tmp/out")
		;;
	cgibench)
		read -r n s < <(python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["cells"][0]; print(c["requests"], c["duration_ns"]/1e9)' "$tmp/load.json")
		;;
	esac
	echo "$gen $n $s $cpu" >>"$tmp/runs"
	awk -v g="$gen" -v n="$n" -v s="$s" -v c="$cpu" 'BEGIN { printf "  %-9s %8.0f req/s  %6.2f CPU-µs/request  (%d requests in %.2fs, %.2fs CPU)\n", g, n/s, c*1e6/n, n, s, c }'
}

echo "machine: $(nproc) CPUs, $(lscpu 2>/dev/null | awk -F: '/Model name/ { gsub(/^ +/, "", $2); print $2; exit }'); load before: $(uptime | sed 's/.*load average/load average/')"
echo "target: scripts/bench/hello at $url; $CONC connections, $DURATION per measurement, $ROUNDS alternating rounds"
for r in $(seq "$ROUNDS"); do
	echo "round $r"
	measure wrk-t1 wrk -t1 -c"$CONC" -d"$DURATION" "$url"
	measure wrk-t2 wrk -t2 -c"$CONC" -d"$DURATION" "$url"
	measure cgibench "$tmp/cgibench" load "$url" --workload get --concurrency "$CONC" --duration "$DURATION" \
		--warmup 0s --json "$tmp/load.json"
done
echo "load after: $(uptime | sed 's/.*load average/load average/')"
python3 - "$tmp/runs" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    gen, n, s, cpu = line.split()
    runs[gen].append((float(n) / float(s), float(cpu) * 1e6 / float(n)))
med = {g: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v)) for g, v in runs.items()}
print("medians:")
for g, (rps, cpu) in med.items():
    print(f"  {g:9s} {rps:8.0f} req/s  {cpu:6.2f} CPU-µs/request")
c_rps, c_cpu = med["cgibench"]
for g in ("wrk-t1", "wrk-t2"):
    rps, cpu = med[g]
    print(f"cgibench vs {g}: {c_rps / rps:.2f}x the req/s, {c_cpu / cpu:.2f}x the CPU per request")
PY
