# Shared by the bench-*.sh comparison scripts: sourced, not run.
# Provides: tmp (a scratch folder removed at exit), pids (killed at exit), free_port,
# wait_http URL..., rps_cgibench_load URL [extra flags], rps_wrk URL,
# compare LABEL_A LABEL_B URL_A URL_B [PID_A PID_B].

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

# warm_cgibench_load sends a second of load to URL, unmeasured, before rps_cgibench_load: so
# the measurement starts warm and the CPU charged to it is its own requests' only.
warm_cgibench_load() { "$tmp/cgibench" load "$1" --concurrency "$CONC" --duration 1s --warmup 0s >/dev/null; }

# rps_cgibench_load prints the req/s and the request count of cgibench's own generator (get
# workload) against URL, and fails if any request failed.
rps_cgibench_load() {
	local url=$1; shift
	"$tmp/cgibench" load "$url" --concurrency "$CONC" --duration "$DURATION" --warmup 0s --json "$tmp/l.json" "$@" >/dev/null &&
		python3 -c 'import json,sys; c=json.load(open(sys.argv[1]))["cells"][0]; assert not c["errors"], c["errors"]; print("%.0f %d" % (c["throughput_rps"], c["requests"]))' "$tmp/l.json"
}

# rps_wrk prints wrk's req/s and request count against URL (one fixed GET with a query string).
rps_wrk() { wrk -t2 -c"$CONC" -d"$DURATION" "$1?name=value&visits=1" | awk '/requests in/ {n=$1} /Requests\/sec/ {r=$2} END {printf "%.0f %d\n", r, n}'; }

# cpu_ticks prints two CPU times, in clock ticks (user plus system): what process PID has used
# itself, its children left out, and what its children have used: the CGI programs it reaped
# (cutime, cstime) and the workers still running, with what they reaped. With no PID it prints
# "0 0".
cpu_ticks() {
	if [ -z "${1:-}" ]; then echo "0 0"; return; fi
	local kids k
	kids=$(ps -o pid= --ppid "$1" | tr -d ' ' || true)
	{
		awk '{print "own", $14 + $15; print "kids", $16 + $17}' "/proc/$1/stat"
		for k in $kids; do awk '{print "kids", $14 + $15 + $16 + $17}' "/proc/$k/stat" 2>/dev/null || true; done
	} | awk '{t[$1] += $2} END {print t["own"] + 0, t["kids"] + 0}'
}

# measure GEN URL [PID] prints "req/s requests ticks kid-ticks": one measurement with generator
# GEN (after its warm-up, when it has one) and the CPU ticks PID and its children used meanwhile.
measure() {
	local t0 out t1
	if declare -F "warm_$1" >/dev/null; then "warm_$1" "$2" || return; fi
	t0=($(cpu_ticks "${3:-}"))
	out=$("rps_$1" "$2") || return
	t1=($(cpu_ticks "${3:-}"))
	echo "$out $((t1[0] - t0[0])) $((t1[1] - t0[1]))"
}

# compare measures URL_A and URL_B alternately, ROUNDS times, with each generator available,
# and prints the medians and their ratio. Given the servers' PIDs, it also prints each server
# process's own CPU time per request (the front end's cost: workers and CGI programs excluded),
# the figure that tells two front ends apart when the programs behind them dominate the total.
compare() {
	local la=$1 lb=$2 ua=$3 ub=$4 pa=${5:-} pb=${6:-} gens=(cgibench_load)
	command -v wrk >/dev/null && gens+=(wrk)
	for gen in "${gens[@]}"; do
		local a=() b=()
		for _ in $(seq "$ROUNDS"); do
			a+=("$(measure "$gen" "$ua" "$pa")")
			b+=("$(measure "$gen" "$ub" "$pb")")
		done
		python3 - "$gen" "$la" "$lb" "$(getconf CLK_TCK)" "${a[@]}" -- "${b[@]}" <<'PY'
import statistics, sys
gen, la, lb, hz = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
rest = sys.argv[5:]
cut = rest.index("--")
a = [list(map(float, m.split())) for m in rest[:cut]]
b = [list(map(float, m.split())) for m in rest[cut + 1:]]
ra, rb = [m[0] for m in a], [m[0] for m in b]
ma, mb = statistics.median(ra), statistics.median(rb)
print(f"{gen:14s} {la} {ma:8.0f} req/s   {lb} {mb:8.0f} req/s   ratio {ma/mb:.2f}x   (rounds: {ra} vs {rb})")
# Round i measured A then B a few seconds apart, so its ratio is the fairest single comparison;
# how they spread, and how often A came out ahead, says how far to trust the ratio of medians.
pr = sorted(x / y for x, y in zip(ra, rb) if y > 0)
if pr:
    ahead = sum(r > 1 for r in pr)
    print(f"{'':14s} per-round ratios {', '.join(f'{r:.2f}' for r in pr)}: {la} ahead in {ahead} of {len(pr)} rounds")
def cpu_us(ms, i):  # median CPU per request of field i (2: server, 3: its children), µs; 0 without figures
    per = [m[i] / hz * 1e6 / m[1] for m in ms if m[1] > 0]
    return statistics.median(per) if per else 0
ca, cb = cpu_us(a, 2), cpu_us(b, 2)
if ca > 0 and cb > 0:
    print(f"{'':14s} server's own CPU per request: {la} {ca:.1f} µs, {lb} {cb:.1f} µs, ratio {ca/cb:.2f}x")
    ka, kb = cpu_us(a, 3), cpu_us(b, 3)
    if ka > 0 and kb > 0:
        # On a machine the load keeps busy, req/s is about CPUs / (CPU per request). A front end
        # that cost nothing would leave the programs' share and the generator's (left out here,
        # which only raises the bound), so A's throughput is at most (cb + kb) / kb times B's.
        print(f"{'':14s} its programs' or workers' CPU per request: {la} {ka:.1f} µs, {lb} {kb:.1f} µs; "
              f"a front end costing nothing would reach at most {(cb + kb) / kb:.2f}x {lb}'s req/s on a busy machine")
PY
	done
}
