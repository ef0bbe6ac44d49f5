package loadgen

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// readIntervalLog reads an interval log back with hdrhistogram-go's reader.
func readIntervalLog(t *testing.T, log []byte) []*hdrhistogram.Histogram {
	t.Helper()
	r := hdrhistogram.NewHistogramLogReader(bytes.NewReader(log))
	var hs []*hdrhistogram.Histogram
	for {
		h, err := r.NextIntervalHistogram()
		if err != nil {
			t.Fatalf("reading the log back: %v", err)
		}
		if h == nil {
			return hs
		}
		hs = append(hs, h)
	}
}

// TestWriteIntervalLog: two generators load one server at once, each writes its interval log;
// read back with hdrhistogram-go's log reader, every interval keeps its time and counts, and the
// logs merge into what the two results merge into.
func TestWriteIntervalLog(t *testing.T) {
	w, resp := cannedResponse(t)
	srv, _ := cannedServer(t, resp, false)
	cfgs := []Config{
		{Rate: 1000, Concurrency: 2},
		{Concurrency: 1},
	}
	results := make([]*Result, len(cfgs))
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		cfg.URL, cfg.Workload, cfg.Duration, cfg.Interval = srv.url(), w, 350*time.Millisecond, 100*time.Millisecond
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			res, err := Run(ctx, cfg)
			if err != nil {
				t.Error(err)
				return
			}
			results[i] = res
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	merged := NewHistogram()
	fromLogs := NewHistogram()
	var lines int
	for i, res := range results {
		var buf bytes.Buffer
		if err := WriteIntervalLog(&buf, res); err != nil {
			t.Fatal(err)
		}
		log := buf.String()
		for _, want := range []string{"#[Histogram log format version 1.3]", "#[StartTime: ", "#[BaseTime: ", "\"StartTimestamp\""} {
			if !strings.Contains(log, want) {
				t.Errorf("log %d: got\n%s\nwant a line with %q", i, log, want)
			}
		}
		hs := readIntervalLog(t, buf.Bytes())
		if len(hs) != len(res.Intervals) || len(hs) < 4 {
			t.Fatalf("log %d: read %d intervals; want %d (4, more if the machine held the run up)", i, len(hs), len(res.Intervals))
		}
		for j, h := range hs {
			iv := &res.Intervals[j]
			if h.TotalCount() != iv.Histogram.TotalCount() || h.ValueAtQuantile(99) != iv.Histogram.ValueAtPercentile(99) {
				t.Errorf("log %d, interval %d: read %d values, p99 %d; want %d, %d", i, j, h.TotalCount(),
					h.ValueAtQuantile(99), iv.Histogram.TotalCount(), iv.Histogram.ValueAtPercentile(99))
			}
			// Absolute times survive: the reader adds the base time to the relative stamps.
			wantStart := res.Start.Add(iv.Start).UnixMilli()
			if d := h.StartTimeMs() - wantStart; d < -1 || d > 1 {
				t.Errorf("log %d, interval %d: read start %d ms; want %d", i, j, h.StartTimeMs(), wantStart)
			}
			if d := h.EndTimeMs() - h.StartTimeMs() - iv.Duration.Milliseconds(); d < -1 || d > 1 {
				t.Errorf("log %d, interval %d: read length %d ms; want %s", i, j, h.EndTimeMs()-h.StartTimeMs(), iv.Duration)
			}
			if dropped := fromLogs.Merge(h); dropped != 0 {
				t.Errorf("log %d, interval %d: %d values dropped merging", i, j, dropped)
			}
			lines++
		}
		merged.Merge(res.Histogram)
	}
	if fromLogs.TotalCount() != merged.TotalCount() || fromLogs.TotalCount() == 0 {
		t.Errorf("the logs merge into %d values; want the results' %d", fromLogs.TotalCount(), merged.TotalCount())
	}
	for _, q := range []float64{50, 99, 99.9, 100} {
		if got, want := fromLogs.ValueAtQuantile(q), merged.ValueAtQuantile(q); got != want {
			t.Errorf("p%v of the merged logs: got %d; want the merged results' %d", q, got, want)
		}
	}
}

// TestWriteIntervalLogEmpty: a run without intervals (cancelled at once) writes a log with its
// header only, which reads back as empty.
func TestWriteIntervalLogEmpty(t *testing.T) {
	res := &Result{Start: time.Unix(1700000000, 500e6), IntervalLength: time.Second}
	var buf bytes.Buffer
	if err := WriteIntervalLog(&buf, res); err != nil {
		t.Fatal(err)
	}
	if hs := readIntervalLog(t, buf.Bytes()); len(hs) != 0 {
		t.Errorf("read %d intervals; want none", len(hs))
	}
	if err := WriteIntervalLog(failingWriter{}, res); err == nil {
		t.Errorf("writing to a failing writer: got no error; want one")
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }
