package loadgen

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// memoryTestEnv sets the number of requests of TestMemoryFlat: 10000000 for the full check
// (a few minutes).
const memoryTestEnv = "CGIBENCH_LOADGEN_MEMTEST_REQUESTS"

// TestMemoryFlat: the generator keeps nothing per request. Over a long closed-loop run against a
// canned server in this process, the heap in use at the end is what it was early on: the only
// growth allowed is the run's intervals (a small packed histogram per second). By default 100000
// requests (a few seconds); set CGIBENCH_LOADGEN_MEMTEST_REQUESTS=10000000 for the full check.
// Skipped with -short, and with -race (whose shadow memory makes the heap meaningless).
func TestMemoryFlat(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("long; and meaningless under the race detector")
	}
	n := int64(100_000)
	if s := os.Getenv(memoryTestEnv); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v <= 0 {
			t.Fatalf("%s=%q: want a positive number of requests", memoryTestEnv, s)
		}
		n = v
	}
	w, resp := cannedResponse(t)
	srv, _ := cannedServer(t, resp, false)

	type sample struct {
		at   time.Duration
		heap uint64
	}
	var samples []sample
	done := make(chan struct{})
	var wg sync.WaitGroup
	begin := time.Now()
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				samples = append(samples, sample{time.Since(begin), ms.HeapInuse})
			}
		}
	})
	res, err := Run(context.Background(), Config{URL: srv.url(), Workload: w, Concurrency: 8, Requests: n})
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	checkErrors(t, res, nil)
	if res.Requests != n || len(samples) < 10 {
		t.Fatalf("got %d requests, %d heap samples; want %d and at least 10", res.Requests, len(samples), n)
	}
	// Early: once connections and histograms exist (a tenth of the way in). Late: the last
	// tenth. The highest of each, against the noise of the server's own garbage.
	peak := func(ss []sample) uint64 {
		return slices.MaxFunc(ss, func(a, b sample) int { return int(a.heap) - int(b.heap) }).heap
	}
	tenth := len(samples) / 10
	early, late := peak(samples[tenth:2*tenth]), peak(samples[len(samples)-tenth:])
	allowed := uint64(2<<20) + uint64(len(res.Intervals))*16<<10
	t.Logf("%d requests in %s (%.0f/s): heap in use %.1f MiB early, %.1f MiB late (allowed growth %.1f MiB)",
		res.Requests, res.Elapsed.Round(time.Millisecond), res.RequestsPerSecond(),
		float64(early)/(1<<20), float64(late)/(1<<20), float64(allowed)/(1<<20))
	if late > early+allowed {
		t.Errorf("heap grew from %d to %d bytes over %d requests; want it flat (at most %d more)", early, late, n, allowed)
	}
}
