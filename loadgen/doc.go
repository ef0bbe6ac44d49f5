// Package loadgen drives HTTP load at a server running the reference app and measures it.
//
// In flow a Config — the loopback URL of the server under test, a Workload (a fixed, deterministic
// set of requests the reference app answers, each with the response scripts/go/refapp says it must
// give), a concurrency and a bound in time and/or request count — and a context whose
// cancellation (Ctrl-C) ends the run early. Out comes a Result: plain counts (requests, errors by
// class, connections opened), the measured elapsed time and an HdrHistogram of latencies in
// nanoseconds. Nothing is printed; presenting a Result is the reports package's job.
//
// Run is a closed loop: Concurrency keep-alive connections, each sending its next request as soon
// as the previous response has been read in full. Every request's latency runs from just before
// its first byte is written to the last byte of its response body; opening a connection is not
// part of it (it is part of Elapsed, hence of the throughput). A failed request is data (an error
// class and a count), never a stopped run: the connection is reopened and the loop goes on.
//
// The HTTP/1.1 client is loadgen's own, over net.Conn: requests are rendered to bytes once,
// responses are parsed from a fixed buffer and their bodies compared with the expected ones as
// they stream by, so the steady state allocates nothing and a hostile server cannot make it
// allocate without bound. It only speaks to loopback addresses unless Config.AllowRemote is set.
package loadgen
