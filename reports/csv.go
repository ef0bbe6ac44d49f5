package reports

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/cgibench/cgibench/bench"
)

// csvColumns is the CSV header. The order is part of the format: add columns at the end.
var csvColumns = []string{
	"strategy", "program", "workload", "concurrency", "rate_rps", "workers", "work",
	"duration_ns", "requests", "errors", "error_classes", "throughput_rps",
	"p50_ns", "p90_ns", "p99_ns", "p999_ns", "max_ns", "mean_ns", "out_of_range",
	"server_cpu_ns", "children_cpu_ns", "loadgen_cpu_ns", "cpu_per_request_ns",
	"peak_rss_bytes", "mean_rss_bytes", "peak_pss_bytes", "mean_pss_bytes", "child_peak_rss_bytes",
	"partial", "error",
	"uncorrected_p99_ns", "late", "unsent", "scheduled", "max_sustainable_rps", "capacity_bound",
	"fastcgi_socket", "shared_socket", "front_end",
}

// WriteCSV writes one row per cell, in display order, after a header row. Numbers are not
// formatted for people: latencies and CPU times in nanoseconds, memory in bytes, rates in
// requests per second, each as Go prints it. error_classes lists the non-zero error classes as
// "class=count" joined by ";"; the resource columns are empty for cells without Resources, the
// open-loop columns (uncorrected_p99_ns to scheduled) for closed-loop cells, the capacity
// columns for cells that were not a capacity search.
func WriteCSV(w io.Writer, r *bench.Results) error {
	if r == nil {
		return errNilResults
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(csvColumns); err != nil {
		return fmt.Errorf("reports: csv: %w", err)
	}
	i64 := func(v int64) string { return strconv.FormatInt(v, 10) }
	f64 := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, c := range sortedCells(r) {
		l := c.LatencyNS
		row := []string{
			c.Strategy, c.Program, c.Workload, strconv.Itoa(c.Concurrency), f64(c.RateRPS),
			strconv.Itoa(c.Workers), strconv.Itoa(c.Work),
			i64(c.DurationNS), i64(c.Requests), i64(totalErrors(c)), errorClasses(c, ";", "="), f64(c.ThroughputRPS),
			i64(l.P50), i64(l.P90), i64(l.P99), i64(l.P999), i64(l.Max), f64(l.Mean), i64(c.OutOfRange),
		}
		if res := c.Resources; res != nil {
			row = append(row,
				i64(res.ServerCPUNS), i64(res.ChildrenCPUNS), i64(res.LoadgenCPUNS), f64(res.CPUPerRequestNS),
				i64(res.PeakRSSBytes), i64(res.MeanRSSBytes), i64(res.PeakPSSBytes), i64(res.MeanPSSBytes),
				i64(res.ChildPeakRSSBytes),
			)
		} else {
			row = append(row, "", "", "", "", "", "", "", "", "")
		}
		row = append(row, strconv.FormatBool(c.Partial), c.Error)
		if o := c.OpenLoop; o != nil {
			row = append(row, i64(o.UncorrectedLatencyNS.P99), i64(o.Late), i64(o.Unsent), i64(o.Scheduled))
		} else {
			row = append(row, "", "", "", "")
		}
		if cp := c.Capacity; cp != nil {
			row = append(row, f64(cp.MaxSustainableRPS), cp.Bound)
		} else {
			row = append(row, "", "")
		}
		shared := ""
		if c.FastCGISocket != "" {
			shared = strconv.FormatBool(c.SharedSocket)
		}
		row = append(row, c.FastCGISocket, shared, c.FrontEnd)
		if err := cw.Write(row); err != nil {
			return fmt.Errorf("reports: csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("reports: csv: %w", err)
	}
	return nil
}
