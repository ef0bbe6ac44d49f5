// Package loadgen drives HTTP load at a server running the reference app and measures it.
//
// In flow a Config — the loopback URL of the server under test, a Workload (a fixed, deterministic
// set of requests the reference app answers, each with the response scripts/go/refapp says it must
// give), a load model and a bound in time and/or request count — and a context whose cancellation
// (Ctrl-C) ends the run early. Out comes a Result: plain counts (requests, errors by class,
// connections opened, requests late or never sent), the measured elapsed time, HdrHistograms of
// latencies in nanoseconds, and the same per interval (one second by default) for time series.
// Nothing is printed; presenting a Result is the reports package's job. WriteIntervalLog writes
// the intervals as a standard HdrHistogram interval log (.hlog), which HdrHistogram's tools read
// and merge across generators.
//
// Two load models:
//
//   - Closed loop (Config.Rate zero): Concurrency keep-alive connections, each sending its next
//     request as soon as the previous response has been read in full. A request's latency runs
//     from just before its first byte is written to the last byte of its response; opening a
//     connection is not part of it (it is part of Elapsed, hence of the throughput). This is
//     wrk's model; it hides stalls: a server that freezes for a second records one slow request
//     per connection instead of the hundreds that should have been sent in that second
//     (coordinated omission).
//   - Open loop (Config.Rate > 0): requests are due on a fixed schedule, Rate per second in all,
//     whatever the server does; each is sent at its intended start on a free connection, a new
//     one if none is free (up to MaxConnections), or as soon as one frees when all are busy.
//     Latency runs from the intended start (corrected, as in wrk2) and, in Result.Uncorrected,
//     from the actual send. Requests sent over LateThreshold behind are counted (Result.Late);
//     requests never sent because every connection stayed busy to the end are counted too
//     (Result.Unsent), never silently dropped.
//
// Search runs open-loop steps at rising rates until one crosses a bound (p99 SLO, error rate,
// unsent requests, throughput falling behind the rate) and reports the highest sustainable rate.
//
// A failed request is data (an error class and a count), never a stopped run: the connection is
// reopened and the load goes on.
//
// The engine is loadgen's own, on Linux: each of Threads event loops drives its share of the
// connections with non-blocking sockets and edge-triggered epoll, as wrk does — one write, one
// read and a share of an epoll_wait per request, no goroutine switch, lock or allocation. The
// open loop's schedule is kept with a timerfd armed early by the measured wake-up lag, then a
// short poll, so that requests leave within microseconds of their intended time rather than the
// millisecond of Go's (and wrk2's) timers. Requests are rendered to bytes once; responses are
// parsed from a fixed buffer as they arrive (a resumable parser), bodies compared with the
// expected ones as they stream by, so that a hostile server cannot make the generator allocate
// without bound. It only speaks to loopback addresses unless Config.AllowRemote is set.
package loadgen
