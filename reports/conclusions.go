package reports

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cgibench/cgibench/bench"
)

// minRatio is the smallest difference a conclusion claims. Each cell is one run, without a
// confidence interval, so differences under 20% are left unstated rather than over-read.
const minRatio = 1.2

// closeRatio is how near two latencies must be for a conclusion to call them "within 10%".
const closeRatio = 1.1

// maxErrorShare is the share of failed requests above which a cell is not compared (its
// throughput and latency describe failures as much as work) and the failures themselves are
// reported.
const maxErrorShare = 0.01

// baseline is the strategy other strategies are compared with.
const baseline = "cgi"

// Conclusions states in plain sentences what r's figures show, comparing every strategy with
// cgi for each program: throughput at the highest concurrency both were measured at,
// memory when Resources are present, where cgi's latency catches up as work grows when cells
// ask for work, and which cells failed more than 1% of their requests. It claims only
// differences of 20% or more, between cells that completed with under 1% errors; it returns
// nothing when the data cannot support a claim. The order is stable.
func Conclusions(r *bench.Results) []string {
	if r == nil {
		return nil
	}
	cells := sortedCells(r)
	var usable []*bench.Cell
	for _, c := range cells {
		if comparableCell(c) {
			usable = append(usable, c)
		}
	}
	var out []string
	out = append(out, StartupConclusions(StartupBreakdowns(r))...)
	out = append(out, throughputConclusions(usable)...)
	out = append(out, memoryConclusions(usable)...)
	out = append(out, crossoverConclusions(usable)...)
	out = append(out, capacityConclusions(cells)...)
	out = append(out, omissionConclusions(cells)...)
	out = append(out, errorConclusions(cells)...)
	return out
}

// capacityConclusions states the highest sustainable rate of each capacity search, the cells
// of one program, workload and concurrency in one sentence, in strategy order:
// "python/get c=8 sustains 140 req/s under cgi, 2100 req/s under fastcgi (p99 ≤ 50ms, errors ≤ 0%)".
func capacityConclusions(cells []*bench.Cell) []string {
	type key struct {
		program, workload string
		conc, work        int
		bounds            string
	}
	order, groups := groupCells(cells, func(c *bench.Cell) (key, bool) {
		if c.Capacity == nil || c.Error != "" || c.Capacity.Bound == "cancelled" {
			return key{}, false
		}
		return key{c.Program, c.Workload, c.Concurrency, c.Work, capacityBounds(c.Capacity)}, true
	})
	var out []string
	for _, k := range order {
		var parts []string
		for _, c := range groups[k] {
			cp := c.Capacity
			var part string
			switch {
			case cp.MaxSustainableRPS == 0:
				part = fmt.Sprintf("no rate from %s req/s under %s", formatRPS(cp.FromRPS), c.Strategy)
			case cp.Bound == "":
				part = fmt.Sprintf("%s req/s under %s (every rate tried: more is possible)", formatRPS(cp.MaxSustainableRPS), c.Strategy)
			default:
				part = fmt.Sprintf("%s req/s under %s", formatRPS(cp.MaxSustainableRPS), c.Strategy)
			}
			parts = append(parts, part)
		}
		id := fmt.Sprintf("%s/%s c=%d", k.program, k.workload, k.conc)
		if k.work > 0 {
			id += fmt.Sprintf(" work=%d", k.work)
		}
		out = append(out, fmt.Sprintf("%s sustains %s (%s)", id, strings.Join(parts, ", "), k.bounds))
	}
	return out
}

// omissionConclusions names the open-loop cells whose p99 from the intended start is at least
// twice the p99 from the actual send: what a closed-loop tool would have understated.
func omissionConclusions(cells []*bench.Cell) []string {
	var out []string
	for _, c := range cells {
		o := c.OpenLoop
		if o == nil || c.Error != "" || c.Capacity != nil || o.UncorrectedLatencyNS.P99 <= 0 {
			continue
		}
		ratio := float64(c.LatencyNS.P99) / float64(o.UncorrectedLatencyNS.P99)
		if ratio < 2 {
			continue
		}
		out = append(out, fmt.Sprintf("%s: p99 is %s from each request's intended start but %s from its actual send: a closed-loop measurement would understate it %s",
			cellName(c), FormatDuration(float64(c.LatencyNS.P99)), FormatDuration(float64(o.UncorrectedLatencyNS.P99)), FormatRatio(ratio)))
	}
	return out
}

// comparableCell reports whether a cell's figures can be set against another's: measured in full,
// closed-loop, with few errors.
func comparableCell(c *bench.Cell) bool {
	return c.Error == "" && !c.Partial && c.Requests > 0 && c.RateRPS == 0 &&
		float64(totalErrors(c)) < maxErrorShare*float64(c.Requests)
}

// pair is a baseline cell and another strategy's cell for the same program, workload,
// concurrency and work.
type pair struct{ base, other *bench.Cell }

// pairs matches baseline cells with the other strategies' cells that share their program,
// workload, concurrency and work, in display order. When several cells share a key (different
// pool sizes), the first in display order stands for it.
func pairs(cells []*bench.Cell, withWork bool) []pair {
	type key struct {
		program, workload string
		conc, work        int
	}
	base := make(map[key]*bench.Cell)
	for _, c := range cells {
		if c.Strategy == baseline && (c.Work > 0) == withWork {
			k := key{c.Program, c.Workload, c.Concurrency, c.Work}
			if base[k] == nil {
				base[k] = c
			}
		}
	}
	seen := make(map[key]map[string]bool)
	var ps []pair
	for _, c := range cells {
		if c.Strategy == baseline || (c.Work > 0) != withWork {
			continue
		}
		k := key{c.Program, c.Workload, c.Concurrency, c.Work}
		b := base[k]
		if b == nil || seen[k][c.Strategy] {
			continue
		}
		if seen[k] == nil {
			seen[k] = make(map[string]bool)
		}
		seen[k][c.Strategy] = true
		ps = append(ps, pair{b, c})
	}
	return ps
}

// headline picks, for each (program, other strategy), the pair a headline claim is made on: the
// "get" workload if it was measured, else the first workload by name; then the highest
// concurrency. ok filters the pairs that carry the figure compared.
func headline(ps []pair, ok func(pair) bool) []pair {
	type key struct{ program, strategy string }
	best := make(map[key]pair)
	var order []key
	better := func(a, b pair) bool { // is a a better headline than b?
		aw, bw := a.base.Workload, b.base.Workload
		if aw != bw {
			if aw == "get" || bw == "get" {
				return aw == "get"
			}
			return aw < bw
		}
		return a.base.Concurrency > b.base.Concurrency
	}
	for _, p := range ps {
		if !ok(p) {
			continue
		}
		k := key{p.base.Program, p.other.Strategy}
		cur, found := best[k]
		if !found {
			order = append(order, k)
		}
		if !found || better(p, cur) {
			best[k] = p
		}
	}
	slices.SortFunc(order, func(a, b key) int {
		if a.program != b.program {
			if a.program < b.program {
				return -1
			}
			return 1
		}
		return compareStrategies(a.strategy, b.strategy)
	})
	out := make([]pair, len(order))
	for i, k := range order {
		out[i] = best[k]
	}
	return out
}

func throughputConclusions(cells []*bench.Cell) []string {
	var out []string
	ps := headline(pairs(cells, false), func(p pair) bool {
		return p.base.ThroughputRPS > 0 && p.other.ThroughputRPS > 0
	})
	for _, p := range ps {
		more, less := p.other, p.base
		if p.base.ThroughputRPS > p.other.ThroughputRPS {
			more, less = p.base, p.other
		}
		ratio, ok := Ratio(more.ThroughputRPS, less.ThroughputRPS)
		if !ok || ratio < minRatio {
			continue
		}
		out = append(out, fmt.Sprintf("%s serves %s more requests per second than %s for %s at c=%d (%s)",
			more.Strategy, FormatRatio(ratio), less.Strategy, p.base.Program, p.base.Concurrency, p.base.Workload))
	}
	return out
}

// peakMemory is a cell's peak memory and what it measures: PSS when both cells compared have
// it (it shares the pages forked workers share), else RSS.
func peakMemory(a, b *bench.Cell) (ma, mb float64, what string) {
	ra, rb := a.Resources, b.Resources
	if ra.PeakPSSBytes > 0 && rb.PeakPSSBytes > 0 {
		return float64(ra.PeakPSSBytes), float64(rb.PeakPSSBytes), "peak PSS"
	}
	return float64(ra.PeakRSSBytes), float64(rb.PeakRSSBytes), "peak RSS"
}

func memoryConclusions(cells []*bench.Cell) []string {
	var out []string
	ps := headline(pairs(cells, false), func(p pair) bool {
		if p.base.Resources == nil || p.other.Resources == nil {
			return false
		}
		a, b, _ := peakMemory(p.base, p.other)
		return a > 0 && b > 0
	})
	for _, p := range ps {
		mBase, mOther, what := peakMemory(p.base, p.other)
		more, less, mMore, mLess := p.base, p.other, mBase, mOther
		if mOther > mBase {
			more, less, mMore, mLess = p.other, p.base, mOther, mBase
		}
		ratio, ok := Ratio(mMore, mLess)
		if !ok || ratio < minRatio {
			continue
		}
		out = append(out, fmt.Sprintf("%s needs %s the memory of %s for %s at c=%d (%s, %s %s MiB vs %s MiB)",
			more.Strategy, FormatRatio(ratio), less.Strategy, p.base.Program, p.base.Concurrency, p.base.Workload,
			what, formatSig(mMore/(1<<20)), formatSig(mLess/(1<<20))))
	}
	return out
}

// crossoverConclusions says, for cells that ask for work=N, from which N the baseline's median
// latency comes within 10% of another strategy's: where the cost of starting a process stops
// mattering. It uses the lowest concurrency with at least two work sizes measured.
func crossoverConclusions(cells []*bench.Cell) []string {
	type key struct{ program, workload, strategy string }
	byKey := make(map[key]map[int][]pair) // concurrency → pairs
	var order []key
	for _, p := range pairs(cells, true) {
		if p.base.LatencyNS.P50 <= 0 || p.other.LatencyNS.P50 <= 0 {
			continue
		}
		k := key{p.base.Program, p.base.Workload, p.other.Strategy}
		if byKey[k] == nil {
			byKey[k] = make(map[int][]pair)
			order = append(order, k)
		}
		byKey[k][p.base.Concurrency] = append(byKey[k][p.base.Concurrency], p)
	}
	var out []string
	for _, k := range order {
		concs := make([]int, 0, len(byKey[k]))
		for c, ps := range byKey[k] {
			if len(ps) >= 2 {
				concs = append(concs, c)
			}
		}
		if len(concs) == 0 {
			continue
		}
		conc := slices.Min(concs)
		ps := byKey[k][conc]
		slices.SortFunc(ps, func(a, b pair) int { return a.base.Work - b.base.Work })
		where := fmt.Sprintf("for %s at c=%d (%s)", k.program, conc, k.workload)
		ratio := func(p pair) float64 {
			x, _ := Ratio(float64(p.base.LatencyNS.P50), float64(p.other.LatencyNS.P50))
			return x
		}
		first := ratio(ps[0])
		if first < minRatio {
			// No gap to close: nothing to say about a crossover.
			continue
		}
		at := -1
		for i, p := range ps {
			if ratio(p) <= closeRatio {
				at = i
				break
			}
		}
		if at < 0 {
			last := ps[len(ps)-1]
			out = append(out, fmt.Sprintf("%s, %s's p50 latency is still %s %s's at work=%d, the most work measured",
				where, baseline, FormatRatio(ratio(last)), k.strategy, last.base.Work))
			continue
		}
		out = append(out, fmt.Sprintf("%s, %s's p50 latency comes within 10%% of %s's from work=%d (%s at work=%d)",
			where, baseline, k.strategy, ps[at].base.Work, FormatRatio(first), ps[0].base.Work))
	}
	return out
}

// errorConclusions names the cells that failed more than 1% of their requests.
func errorConclusions(cells []*bench.Cell) []string {
	var out []string
	for _, c := range cells {
		n := totalErrors(c)
		if c.Error != "" || c.Requests <= 0 || float64(n) < maxErrorShare*float64(c.Requests) {
			continue
		}
		out = append(out, fmt.Sprintf("%s of %s requests failed (%s)",
			formatPercent(float64(n)/float64(c.Requests)), cellName(c), errorClasses(c, ", ", " ")))
	}
	return out
}

// formatPercent writes a share (0..1) as a percentage: "93%", "4.2%".
func formatPercent(share float64) string {
	p := share * 100
	if p >= 9.95 || p == 0 {
		return strconv.FormatFloat(math.Round(p), 'f', 0, 64) + "%"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + "%"
}

// StartupBreakdown is where one request's time goes when a program runs under cgi: starting the
// process (for an interpreted language, the interpreter), the app's own work, and moving the
// request and response between server and program. Times are in nanoseconds per request
// (medians, from bench.Startup via StartupBreakdowns); PlotStartup and StartupConclusions read it.
type StartupBreakdown struct {
	Program        string
	ProcessStartNS float64
	AppWorkNS      float64
	TransportNS    float64
}

// StartupBreakdowns converts the start-up analysis in r (medians, see bench.Startup).
func StartupBreakdowns(r *bench.Results) []StartupBreakdown {
	var out []StartupBreakdown
	for _, s := range r.Startup {
		out = append(out, StartupBreakdown{
			Program:        s.Program,
			ProcessStartNS: float64(s.ProcessStartNS),
			AppWorkNS:      float64(s.AppWorkNS),
			TransportNS:    float64(s.TransportNS),
		})
	}
	return out
}

func (b StartupBreakdown) total() float64 { return b.ProcessStartNS + b.AppWorkNS + b.TransportNS }

func (b StartupBreakdown) valid() bool {
	for _, v := range []float64{b.ProcessStartNS, b.AppWorkNS, b.TransportNS} {
		if !(v >= 0) || math.IsInf(v, 0) {
			return false
		}
	}
	return b.total() > 0
}

// interpreted lists the reference programs that start an interpreter, for the wording of
// StartupConclusions.
var interpreted = map[string]bool{"python": true, "perl": true, "php": true, "lua": true, "sh": true, "ruby": true, "node": true}

// StartupConclusions states, for each program, the share of a CGI request spent starting it:
// "python under cgi spends 93% of each request starting the interpreter". Breakdowns with a
// negative, NaN or all-zero time are left out.
func StartupConclusions(b []StartupBreakdown) []string {
	var out []string
	for _, s := range b {
		if !s.valid() {
			continue
		}
		what := "the process"
		if interpreted[s.Program] {
			what = "the interpreter"
		}
		out = append(out, fmt.Sprintf("%s under cgi spends %s of each request starting %s (%s of %s)",
			s.Program, formatPercent(s.ProcessStartNS/s.total()), what,
			FormatDuration(s.ProcessStartNS), FormatDuration(s.total())))
	}
	return out
}
