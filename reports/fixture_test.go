package reports

import (
	"fmt"
	"math"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/cgibench/cgibench/bench"
)

// spec describes a fixture cell's latency distribution: log-normal around medianNS with spread
// sigma, plus a tail of slow requests (tailShare of them, tailFactor times the median).
type spec struct {
	strategy, program, workload string
	conc, work, workers         int
	medianNS, sigma             float64
	tailShare, tailFactor       float64
	// requests, when set, is the number of requests (an open loop's rate × duration), not the
	// closed loop's conc × duration / mean.
	requests int64
}

// fixtureCell builds a cell whose histogram holds requests latencies drawn deterministically
// from s's distribution (its quantiles at evenly spaced probabilities, no randomness), and
// whose summary, request count and throughput agree with that histogram.
func fixtureCell(t testing.TB, s spec, durationNS int64) bench.Cell {
	t.Helper()
	h := hdrhistogram.New(1, 60_000_000_000, 3)
	const maxPoints = 2000
	// Closed loop: each client has one request in flight, so requests ≈ conc × duration / mean.
	mean := s.medianNS * math.Exp(s.sigma*s.sigma/2) * (1 + s.tailShare*(s.tailFactor-1))
	requests := int64(float64(s.conc) * float64(durationNS) / mean)
	if s.requests > 0 {
		requests = s.requests
	}
	requests = max(requests, 1)
	points := min(requests, maxPoints)
	for i := range points {
		p := (float64(i) + 0.5) / float64(points)
		v := s.medianNS * math.Exp(s.sigma*math.Sqrt2*math.Erfinv(2*p-1))
		if p > 1-s.tailShare {
			v *= s.tailFactor
		}
		// Each point stands for its share of the requests; the shares add up to requests.
		weight := (int64(i)+1)*requests/points - int64(i)*requests/points
		if err := h.RecordValues(int64(v), weight); err != nil {
			t.Fatalf("recording %v: %v", v, err)
		}
	}
	enc, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	n := h.TotalCount()
	var socket, front string
	if s.strategy == "fastcgi" {
		socket, front = "unix", "event-loop"
	}
	return bench.Cell{
		FastCGISocket: socket, FrontEnd: front,
		Strategy: s.strategy, Program: s.program, Workload: s.workload,
		Concurrency: s.conc, Work: s.work, Workers: s.workers,
		DurationNS:    durationNS,
		Requests:      n,
		Errors:        map[string]int64{},
		ThroughputRPS: float64(n) / (float64(durationNS) / 1e9),
		LatencyNS: bench.Latency{
			P50: h.ValueAtQuantile(50), P90: h.ValueAtQuantile(90), P99: h.ValueAtQuantile(99),
			P999: h.ValueAtQuantile(99.9), Max: h.Max(), Mean: h.Mean(),
		},
		Histogram: string(enc),
	}
}

const mib = 1 << 20

// fixture is a realistic run: four strategies, four programs, two workloads at up to three
// concurrencies, a work=N sweep, resources on the cgi and fastcgi cells, errors, a failed
// cell, a cut-short cell, and skipped cells.
func fixture(t testing.TB) *bench.Results {
	t.Helper()
	const dur = 10_000_000_000 // 10 s per cell
	start := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	r := &bench.Results{
		Schema:     bench.SchemaVersion,
		Tool:       "cgibench v0.1.0",
		StartedAt:  start,
		FinishedAt: start.Add(4*time.Minute + 12*time.Second),
		Partial:    true,
		Host: bench.HostInfo{
			OS: "linux", Arch: "amd64", CPUs: 8, CPUModel: "AMD EPYC 7B13",
			Kernel: "6.1.0-18-amd64", GoVersion: "go1.26.0",
		},
	}
	// Median latency at c=1, and how it grows with concurrency on 8 CPUs.
	type prog struct {
		strategy, program string
		workers           int
		medianNS, sigma   float64
		// perChild and fixed make the peak memory (fixed + conc × perChild); zero fixed means no Resources.
		perChild, fixed int64
		cpuPerReq       float64
	}
	progs := []prog{
		{"cgi", "python", 0, 18e6, 0.15, 9 * mib, 12 * mib, 17e6},
		{"cgi", "c", 0, 1.1e6, 0.25, mib * 12 / 10, 12 * mib, 0.9e6},
		{"cgi", "lua", 0, 2.5e6, 0.2, 0, 0, 0},
		{"cgi", "go", 0, 1.6e6, 0.2, 0, 0, 0},
		{"fastcgi", "python", 8, 0.45e6, 0.3, 0, 98 * mib, 0.4e6},
		{"fastcgi", "c", 8, 0.12e6, 0.35, 0, 22 * mib, 0.06e6},
		{"embedded", "lua", 8, 0.2e6, 0.3, 0, 0, 0},
		{"inprocess", "go", 0, 0.04e6, 0.4, 0, 0, 0},
	}
	growth := map[int]float64{1: 1, 8: 1.3, 32: 4.2}
	for _, p := range progs {
		for _, conc := range []int{1, 8, 32} {
			c := fixtureCell(t, spec{
				strategy: p.strategy, program: p.program, workload: "get", conc: conc, workers: p.workers,
				medianNS: p.medianNS * growth[conc], sigma: p.sigma, tailShare: 0.002, tailFactor: 6,
			}, dur)
			if p.fixed > 0 {
				rss := p.fixed + int64(conc)*p.perChild
				c.Resources = &bench.Resources{
					ServerCPUNS:     int64(p.cpuPerReq * float64(c.Requests) * 0.1),
					ChildrenCPUNS:   int64(p.cpuPerReq * float64(c.Requests) * 0.9),
					LoadgenCPUNS:    int64(float64(c.Requests) * 20e3),
					CPUPerRequestNS: p.cpuPerReq,
					PeakRSSBytes:    rss,
					MeanRSSBytes:    rss * 9 / 10,
					Samples:         100,
				}
				if p.strategy == "fastcgi" {
					c.Resources.PeakPSSBytes = rss * 6 / 10
					c.Resources.MeanPSSBytes = rss * 5 / 10
				} else {
					c.Resources.ChildPeakRSSBytes = p.perChild
				}
			}
			switch {
			case p.strategy == "cgi" && p.program == "python" && conc == 32:
				c.Errors = map[string]int64{"timeout": 60, "status_5xx": 2}
			case p.strategy == "cgi" && p.program == "c" && conc == 32:
				c.Errors = map[string]int64{"conn_reset": 1, "timeout": 0}
			case p.strategy == "embedded" && conc == 32:
				c.Partial = true
			}
			r.Cells = append(r.Cells, c)
		}
	}
	// A POST workload at one concurrency.
	for _, p := range progs[:5] {
		if p.program != "python" {
			continue
		}
		r.Cells = append(r.Cells, fixtureCell(t, spec{
			strategy: p.strategy, program: p.program, workload: "post", conc: 8, workers: p.workers,
			medianNS: p.medianNS * 1.1, sigma: p.sigma, tailShare: 0.002, tailFactor: 4,
		}, dur))
	}
	// A work=N sweep: each unit of work costs 0.5 µs on top of the program's fixed cost.
	for _, p := range []prog{progs[0], progs[4]} {
		for _, work := range []int{10, 1000, 100_000, 1_000_000} {
			r.Cells = append(r.Cells, fixtureCell(t, spec{
				strategy: p.strategy, program: p.program, workload: "get", conc: 1, work: work, workers: p.workers,
				medianNS: p.medianNS + float64(work)*500, sigma: 0.1,
			}, dur))
		}
	}
	r.Cells = append(r.Cells, bench.Cell{
		Strategy: "fastcgi", Program: "php", Workload: "get", Concurrency: 1, Workers: 8,
		Errors: map[string]int64{},
		Error:  `fastcgi: starting php-cgi -b: exec: "php-cgi": executable file not found in $PATH`,
	})
	r.Skipped = []bench.Skip{
		{Strategy: "cgi", Program: "sh", Workload: "post", Reason: "sh handles GET only"},
		{Strategy: "embedded", Program: "python", Reason: "no embedded interpreter for python"},
	}
	r.Cells = append(r.Cells, openLoopFixture(t)...)
	r.Startup = []bench.Startup{
		{Program: "c", BareStartNS: 650_000, BareRuns: 200, CGIP50NS: 1_100_000, Persistent: "fastcgi", PersistentP50NS: 120_000, StartupShare: 980.0 / 1100, ProcessStartNS: 980_000, AppWorkNS: 80_000, TransportNS: 40_000},
		{Program: "sh", BareStartNS: 2_900_000, BareRuns: 200, CGIP50NS: 3_400_000, StartupShare: 2.9 / 3.4, ProcessStartNS: 2_900_000, AppWorkNS: 460_000, TransportNS: 40_000},
	}
	return r
}

// startupFixture is what a `cgibench startup` run could report.
func startupFixture() []StartupBreakdown {
	return []StartupBreakdown{
		{Program: "c", ProcessStartNS: 0.62e6, AppWorkNS: 0.05e6, TransportNS: 0.08e6},
		{Program: "c-static", ProcessStartNS: 0.31e6, AppWorkNS: 0.05e6, TransportNS: 0.08e6},
		{Program: "go", ProcessStartNS: 1.1e6, AppWorkNS: 0.06e6, TransportNS: 0.08e6},
		{Program: "lua", ProcessStartNS: 1.9e6, AppWorkNS: 0.3e6, TransportNS: 0.08e6},
		{Program: "perl", ProcessStartNS: 4.8e6, AppWorkNS: 0.4e6, TransportNS: 0.09e6},
		{Program: "php", ProcessStartNS: 11.5e6, AppWorkNS: 0.5e6, TransportNS: 0.1e6},
		{Program: "python", ProcessStartNS: 16.7e6, AppWorkNS: 1.1e6, TransportNS: 0.1e6},
	}
}

// intervalFixture is an open-loop cell's per-second figures at 1000 req/s: steady, a stall at
// 6 s, recovery.
func intervalFixture() []bench.Interval {
	var ivs []bench.Interval
	for i := range 20 {
		iv := bench.Interval{StartNS: int64(i) * 1e9, DurationNS: 1e9, Requests: 1000, P50NS: 2_000_000, P99NS: 4_000_000 + int64(i%3)*300_000}
		switch i {
		case 6:
			iv.Requests, iv.P99NS = 310, 180_000_000
		case 7:
			iv.Requests, iv.P99NS = 1690, 95_000_000
		case 8:
			iv.P99NS = 12_000_000
		}
		iv.ThroughputRPS = float64(iv.Requests)
		iv.MaxNS = iv.P99NS * 11 / 10
		ivs = append(ivs, iv)
	}
	return ivs
}

// openLoopFixture is a fixed-rate comparison at 1000 req/s (cgi/c stalls once, fastcgi/c
// does not) and a capacity search of fastcgi/python.
func openLoopFixture(t testing.TB) []bench.Cell {
	const dur = 20_000_000_000
	var cells []bench.Cell
	for _, st := range []string{"cgi", "fastcgi"} {
		sp := spec{strategy: st, program: "c", workload: "get", conc: 8, medianNS: 1.2e6, sigma: 0.3,
			tailShare: 0.02, tailFactor: 60, requests: 20000}
		if st == "fastcgi" {
			sp.medianNS, sp.tailShare = 0.15e6, 0
		}
		c := fixtureCell(t, sp, dur)
		c.RateRPS = 1000
		c.IntervalNS = 1e9
		c.Intervals = intervalFixture()
		c.OpenLoop = &bench.OpenLoop{Scheduled: 20000, Late: 240, PeakConnections: 31,
			UncorrectedLatencyNS: bench.Latency{P50: 1_150_000, P90: 1_600_000, P99: 2_900_000, P999: 4_100_000, Max: 180_000_000}}
		if st == "fastcgi" {
			c.Workers = 8
			c.Intervals = nil
			for i := range 20 {
				c.Intervals = append(c.Intervals, bench.Interval{StartNS: int64(i) * 1e9, DurationNS: 1e9, Requests: 1000,
					ThroughputRPS: 1000, P50NS: 150_000, P99NS: 400_000 + int64(i%4)*20_000, MaxNS: 900_000})
			}
			c.OpenLoop = &bench.OpenLoop{Scheduled: 20000, Late: 3, PeakConnections: 8,
				UncorrectedLatencyNS: bench.Latency{P50: 140_000, P90: 200_000, P99: 280_000, P999: 390_000, Max: 420_000}}
		}
		cells = append(cells, c)
	}
	c := fixtureCell(t, spec{strategy: "fastcgi", program: "python", workload: "get", conc: 8, workers: 8,
		medianNS: 0.9e6, sigma: 0.4, requests: 40000}, 20_000_000_000)
	c.RateRPS = 2000
	c.OpenLoop = &bench.OpenLoop{Scheduled: 40000, Late: 12, PeakConnections: 9,
		UncorrectedLatencyNS: bench.Latency{P50: 880_000, P90: 1_400_000, P99: 2_600_000, P999: 5_000_000, Max: 9_000_000}}
	c.Capacity = &bench.Capacity{MaxSustainableRPS: 2000, Bound: "slo_p99", FromRPS: 500, ToRPS: 5000, StepRPS: 500,
		StepNS: 20_000_000_000, SLOP99NS: 50_000_000, MaxErrorRate: 0.001}
	for _, rate := range []float64{500, 1000, 1500, 2000} {
		c.Capacity.Steps = append(c.Capacity.Steps, bench.CapacityStep{RateRPS: rate, AchievedRPS: rate * 0.999, P99NS: int64(2e6 + rate*1000), OK: true})
	}
	for _, p99 := range []int64{310_000_000, 420_000_000} {
		c.Capacity.Steps = append(c.Capacity.Steps, bench.CapacityStep{RateRPS: 2500, AchievedRPS: 2210, P99NS: p99,
			Reason: fmt.Sprintf("responses at 2210 req/s < 95%% of 2500; p99 %s > SLO 50ms", time.Duration(p99))})
	}
	return append(cells, c)
}
