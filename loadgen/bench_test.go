package loadgen

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRoundTrip measures one connection's request/response cycle against refapp.Handler()
// served by a child process (so the allocations counted are the client's alone), cycling
// through the get workload with verification on. The target is 0 allocs/op.
func BenchmarkRoundTrip(b *testing.B) {
	for _, name := range WorkloadNames {
		b.Run(name, func(b *testing.B) {
			url := startRefappProcess(b)
			tg, err := parseTarget(url, false)
			if err != nil {
				b.Fatal(err)
			}
			reqs, err := renderWorkload(tg, mustWorkload(b, name))
			if err != nil {
				b.Fatal(err)
			}
			var d net.Dialer
			c := newClient(d.DialContext, tg.addr, 10*time.Second)
			defer c.close()
			rec := newRecorder()
			var x exchange
			ctx := context.Background()
			c.roundTrip(ctx, &reqs[0], true, &x) // connect outside the timing
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.roundTrip(ctx, &reqs[i], true, &x)
				rec.add(&x)
				if i++; i == len(reqs) {
					i = 0
				}
			}
			if rec.errors != [numClasses]int64{} {
				b.Fatalf("got errors %v (%v); want none", rec.errors, rec.samples)
			}
		})
	}
}

// BenchmarkRun measures Run at concurrency 8 against refapp.Handler() in a child process on
// 127.0.0.1, with verification: b.N requests per run, reported as req/s. Use -benchtime=3s for
// a run of about three seconds.
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

// BenchmarkRoundTripCanned measures the client's own cost: the server is an allocation-free
// canned responder in this process, so ns/op is mostly loopback I/O and both ends' syscalls.
func BenchmarkRoundTripCanned(b *testing.B) {
	w := oneRequest(b, "get", 0)
	body := w.Requests[0].Expected.Body
	srv, _ := cannedServer(b, httpResponse("HTTP/1.1", "Content-Length: "+strconv.Itoa(len(body))+"\r\n", body), false)
	tg, err := parseTarget(srv.url(), false)
	if err != nil {
		b.Fatal(err)
	}
	reqs, err := renderWorkload(tg, w)
	if err != nil {
		b.Fatal(err)
	}
	var d net.Dialer
	c := newClient(d.DialContext, tg.addr, 10*time.Second)
	defer c.close()
	rec := newRecorder()
	var x exchange
	ctx := context.Background()
	c.roundTrip(ctx, &reqs[0], true, &x)
	b.ReportAllocs()
	for b.Loop() {
		c.roundTrip(ctx, &reqs[0], true, &x)
		rec.add(&x)
	}
	if rec.errors != [numClasses]int64{} {
		b.Fatalf("got errors %v (%v); want none", rec.errors, rec.samples)
	}
}
