package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/cgibench/cgibench/loadgen"
)

// TestRunOpenLoop: with Rate, every cell is a fixed-rate open loop whose results carry the
// corrected and uncorrected figures, the schedule counts and the interval series, and HlogDir
// gets one readable interval log per cell.
func TestRunOpenLoop(t *testing.T) {
	hlogs := t.TempDir()
	log := &strings.Builder{}
	res, err := Run(context.Background(), Config{
		Strategies: []string{"inprocess"}, Programs: []string{"go"}, Workloads: []string{"get", "urlencoded"},
		Concurrency: []int{2}, Rate: 400, Duration: time.Second, Interval: 200 * time.Millisecond, Warmup: 100 * time.Millisecond,
		HlogDir: hlogs, CacheDir: testCache(t), ServeCommand: serveCommand(t), Log: log,
	})
	if err != nil {
		t.Fatalf("Run: %v\nbackend log:\n%s", err, log)
	}
	if len(res.Cells) != 2 {
		t.Fatalf("got %d cells; want 2", len(res.Cells))
	}
	for _, c := range res.Cells {
		name := c.Strategy + "/" + c.Program + "/" + c.Workload
		o := c.OpenLoop
		if c.Error != "" || c.RateRPS != 400 || o == nil {
			t.Errorf("%s: error %q, rate %v, open loop %+v; want a measured cell at 400 req/s", name, c.Error, c.RateRPS, o)
			continue
		}
		if o.Scheduled != 400 || o.Unsent+c.Requests != o.Scheduled || len(c.Errors) != 0 {
			t.Errorf("%s: %d scheduled, %d requests, %d unsent, errors %v; want 400 due, all sent and verified", name, o.Scheduled, c.Requests, o.Unsent, c.Errors)
		}
		unc, err := DecodeHistogram(o.UncorrectedHistogram)
		if err != nil || unc.TotalCount() != c.Requests || o.UncorrectedLatencyNS.P50 <= 0 {
			t.Errorf("%s: uncorrected histogram of %v requests (%v), p50 %d; want %d", name, unc.TotalCount(), err, o.UncorrectedLatencyNS.P50, c.Requests)
		}
		// From the intended start is never less than from the actual send.
		if c.LatencyNS.Max < o.UncorrectedLatencyNS.Max {
			t.Errorf("%s: corrected max %d < uncorrected max %d", name, c.LatencyNS.Max, o.UncorrectedLatencyNS.Max)
		}
		var n int64
		for _, iv := range c.Intervals {
			n += iv.Requests
		}
		if c.IntervalNS != int64(200*time.Millisecond) || len(c.Intervals) < 5 || n != c.Requests {
			t.Errorf("%s: %d intervals of %dns holding %d requests; want 5 or more of 200ms holding all %d", name, len(c.Intervals), c.IntervalNS, n, c.Requests)
		}
		if c.Intervals[0].ThroughputRPS <= 0 || c.Intervals[0].P99NS <= 0 {
			t.Errorf("%s: first interval %+v; want a throughput and a p99", name, c.Intervals[0])
		}
		logPath := filepath.Join(hlogs, "inprocess-go-"+c.Workload+"-c2.hlog")
		if got := readHlogCount(t, logPath); got != c.Requests {
			t.Errorf("%s: %s holds %d requests; want %d", name, logPath, got, c.Requests)
		}
	}
}

// readHlogCount reads an interval log with hdrhistogram-go's reader and returns the number of
// values in all its intervals.
func readHlogCount(t *testing.T, path string) int64 {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := hdrhistogram.NewHistogramLogReader(bytes.NewReader(data))
	var n int64
	for {
		h, err := r.NextIntervalHistogram()
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		if h == nil {
			return n
		}
		n += h.TotalCount()
	}
}

// TestRunCapacitySearch: with Search, a cell is a capacity search; against the in-process app
// (thousands of requests per second here) every low rate is sustainable, so the search runs to
// its last rate, the cell's figures are those of that step, and each step has its log.
func TestRunCapacitySearch(t *testing.T) {
	hlogs := t.TempDir()
	log := &strings.Builder{}
	search := &loadgen.SearchConfig{From: 50, To: 150, Step: 50, StepDuration: time.Second, SLOP99: 2 * time.Second, MaxErrorRate: 0.01, Attempts: 3}
	res, err := Run(context.Background(), Config{
		Strategies: []string{"inprocess"}, Programs: []string{"go"}, Workloads: []string{"get"},
		Concurrency: []int{1}, Search: search, Warmup: 100 * time.Millisecond,
		HlogDir: hlogs, CacheDir: testCache(t), ServeCommand: serveCommand(t), Log: log,
	})
	if err != nil {
		t.Fatalf("Run: %v\nbackend log:\n%s", err, log)
	}
	if len(res.Cells) != 1 {
		t.Fatalf("got %d cells; want 1", len(res.Cells))
	}
	c := res.Cells[0]
	cp := c.Capacity
	if c.Error != "" || cp == nil {
		t.Fatalf("cell: error %q, capacity %+v; want a capacity search", c.Error, cp)
	}
	// A loaded machine may fail a step (a response 50ms late is enough at 50 req/s); the
	// search then tries the rate again, up to Attempts times, and so does this test.
	var rates []float64
	for i, st := range cp.Steps {
		if len(rates) == 0 || rates[len(rates)-1] != st.RateRPS {
			rates = append(rates, st.RateRPS)
		}
		if last := i == len(cp.Steps)-1 || cp.Steps[i+1].RateRPS != st.RateRPS; last && !st.OK {
			t.Errorf("step at %v req/s not sustainable (%s); want every rate sustained against the in-process app", st.RateRPS, st.Reason)
		}
		path := filepath.Join(hlogs, fmt.Sprintf("inprocess-go-get-c1-step%02d-r%g.hlog", i+1, st.RateRPS))
		if n := readHlogCount(t, path); n == 0 {
			t.Errorf("%s holds no requests", path)
		}
	}
	if !slices.Equal(rates, []float64{50, 100, 150}) || cp.MaxSustainableRPS != 150 || cp.Bound != "" {
		t.Errorf("rates %v, max %v, bound %q; want 50, 100, 150, max 150, no bound", rates, cp.MaxSustainableRPS, cp.Bound)
	}
	if c.RateRPS != 150 || c.OpenLoop == nil || c.OpenLoop.Scheduled != 150 {
		t.Errorf("cell at %v req/s, open loop %+v; want the 150 req/s step's figures (150 due in 1s)", c.RateRPS, c.OpenLoop)
	}
	if cp.SLOP99NS != int64(2*time.Second) || cp.MaxErrorRate != 0.01 || cp.StepNS != int64(time.Second) || cp.Attempts != 3 {
		t.Errorf("capacity parameters %+v; want the search's", cp)
	}
}

func TestConfigValidateOpenLoop(t *testing.T) {
	err := Config{
		Rate:           100,
		Search:         &loadgen.SearchConfig{From: 10, To: 5, Step: 1},
		MaxConnections: -1,
	}.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad open-loop config")
	}
	for _, want := range []string{"--rate: give one rate or a FROM:TO:STEP range, not both", "--rate: the last rate 5 is below the first 10", "--max-connections"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q lacks %q", err, want)
		}
	}
}
