package loadgen

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRun measures Run against refapp.Handler() in a child process on 127.0.0.1, with
// verification: b.N requests per run, reported as req/s. Use -benchtime=3s for a run of about
// three seconds.
func BenchmarkRun(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run("concurrency="+strconv.Itoa(conc), func(b *testing.B) {
			url := startRefappProcess(b)
			w := mustWorkload(b, "get")
			b.ReportAllocs()
			b.ResetTimer()
			res, err := Run(context.Background(), Config{URL: url, Workload: w, Concurrency: conc,
				Requests: int64(b.N), Verify: true})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if n := res.ErrorCount(); n != 0 {
				b.Fatalf("got %d errors %v (%v); want none", n, res.Errors, res.ErrorSamples)
			}
			b.ReportMetric(res.RequestsPerSecond(), "req/s")
			b.ReportMetric(float64(res.Histogram.ValueAtQuantile(50))/1e3, "p50-µs")
			b.ReportMetric(float64(res.Histogram.ValueAtQuantile(99))/1e3, "p99-µs")
		})
	}
}

// BenchmarkRunCanned measures the generator's own cost: the server is an allocation-free canned
// responder in this process, so ns/op is mostly loopback I/O and both ends' syscalls, and
// allocs/op (one Run's set-up spread over b.N requests) tends to 0.
func BenchmarkRunCanned(b *testing.B) {
	w := oneRequest(b, "get", 0)
	body := w.Requests[0].Expected.Body
	srv, _ := cannedServer(b, httpResponse("HTTP/1.1", "Content-Length: "+strconv.Itoa(len(body))+"\r\n", body), false)
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(context.Background(), Config{URL: srv.url(), Workload: w, Requests: int64(b.N), Verify: true})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	if n := res.ErrorCount(); n != 0 {
		b.Fatalf("got %d errors %v (%v); want none", n, res.Errors, res.ErrorSamples)
	}
}

// BenchmarkOpenLoop sends b.N requests at a fixed rate to a canned server in this process and
// reports how late after their intended start they were sent: the pacer's precision (its
// target is a median well under 100µs, wrk2 being late by up to 1 ms). Use -benchtime=10000x.
func BenchmarkOpenLoop(b *testing.B) {
	for _, rate := range []float64{1000, 10000} {
		b.Run("rate="+strconv.FormatFloat(rate, 'f', -1, 64), func(b *testing.B) {
			w := oneRequest(b, "get", 0)
			body := w.Requests[0].Expected.Body
			srv, _ := cannedServer(b, httpResponse("HTTP/1.1", "Content-Length: "+strconv.Itoa(len(body))+"\r\n", body), false)
			b.ReportAllocs()
			b.ResetTimer()
			res, err := Run(context.Background(), Config{URL: srv.url(), Workload: w, Rate: rate,
				Requests: int64(b.N), Warmup: 100 * time.Millisecond})
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if n := res.ErrorCount(); n != 0 {
				b.Fatalf("got %d errors %v (%v); want none", n, res.Errors, res.ErrorSamples)
			}
			b.ReportMetric(float64(res.ScheduleLag.ValueAtQuantile(50))/1e3, "lag-p50-µs")
			b.ReportMetric(float64(res.ScheduleLag.ValueAtQuantile(99))/1e3, "lag-p99-µs")
			b.ReportMetric(float64(res.Late), "late")
			b.ReportMetric(float64(res.Unsent), "unsent")
		})
	}
}
