// Package bench runs the measurement matrix: for every (strategy, program, workload,
// concurrency) cell it starts the backend in a separate `cgibench serve` process, warms it up,
// drives the load with the loadgen package, samples the backend's process tree from /proc, and
// stops it, leaving no process behind.
//
// In: a Config (which strategies, programs, workloads, concurrencies, how long). Out: Results,
// plain data with a schema version, written as results.json after every cell so that an
// interrupted run (Ctrl-C) keeps what it measured, marked partial.
//
// The backend runs in its own process so that its CPU and memory are accounted apart from the
// load generator's, as they would be on a real deployment. The same package holds the serve
// side (Serve), so the child is the same code `cgibench serve` runs.
package bench
