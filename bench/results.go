package bench

import "time"

// SchemaVersion is the version of the results.json layout. It changes when a field changes
// meaning or disappears; adding a field does not change it.
const SchemaVersion = 1

// Results is the content of results.json: one Cell per (strategy, program, workload,
// concurrency[, rate]) measured.
type Results struct {
	Schema     int       `json:"schema"`
	Tool       string    `json:"tool"` // "cgibench <version>"
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	// Partial is true when the run was interrupted (Ctrl-C) or a cell failed: the cells present
	// are complete or themselves marked partial, and some planned cells may be missing.
	Partial bool     `json:"partial"`
	Host    HostInfo `json:"host"`
	Cells   []Cell   `json:"cells"`
	// Skipped lists the planned cells that were not run and why (a missing interpreter, a
	// workload the program does not support).
	Skipped []Skip `json:"skipped,omitempty"`
	// Startup holds the start-up analysis of `cgibench startup`, one row per program.
	Startup []Startup `json:"startup,omitempty"`
}

// HostInfo describes the machine the figures belong to.
type HostInfo struct {
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	Kernel    string `json:"kernel,omitempty"`
	GoVersion string `json:"go_version"`
}

// Skip records a planned cell that was not run.
type Skip struct {
	Strategy string `json:"strategy"`
	Program  string `json:"program"`
	Workload string `json:"workload,omitempty"`
	Reason   string `json:"reason"`
}

// Cell is one measured combination.
type Cell struct {
	Strategy    string `json:"strategy"`
	Program     string `json:"program"`
	Workload    string `json:"workload"`
	Concurrency int    `json:"concurrency"`
	// RateRPS is the target rate of an open-loop cell; 0 for closed-loop cells.
	RateRPS float64 `json:"rate_rps,omitempty"`
	// Workers is the pool size of strategies that keep workers (fastcgi, embedded).
	Workers int `json:"workers,omitempty"`
	// FastCGISocket is how a fastcgi cell reached its workers: "unix" or "tcp" sockets.
	FastCGISocket string `json:"fastcgi_socket,omitempty"`
	// SharedSocket: the fastcgi cell's workers accepted on one shared socket (the spawn-fcgi
	// and php-fpm model) instead of one socket each.
	SharedSocket bool `json:"shared_socket,omitempty"`
	// FrontEnd is what served HTTP in front of a fastcgi cell's workers: "event-loop" or
	// "net/http" (see --fastcgi-front-end).
	FrontEnd string `json:"front_end,omitempty"`
	// Work is the work=N the requests asked for (0: none).
	Work int `json:"work,omitempty"`

	DurationNS    int64            `json:"duration_ns"`
	Requests      int64            `json:"requests"` // completed, successful or not
	Errors        map[string]int64 `json:"errors"`   // by class; absent classes are zero
	ThroughputRPS float64          `json:"throughput_rps"`
	// LatencyNS summarises Histogram. For open-loop cells it is corrected for coordinated
	// omission (measured from each request's intended start).
	LatencyNS Latency `json:"latency_ns"`
	// Histogram is the latency histogram in nanoseconds as the base64 text hdrhistogram-go's
	// Encode makes (compressed V2; DecodeHistogram reads it), so that histograms from several
	// runs or machines merge exactly.
	Histogram string `json:"histogram"`
	// OutOfRange counts latencies the histogram could not hold (over 60 s).
	OutOfRange int64 `json:"out_of_range,omitempty"`

	Resources *Resources `json:"resources,omitempty"`

	// OpenLoop holds what only an open-loop (fixed-rate) cell has; nil in a closed loop.
	OpenLoop *OpenLoop `json:"open_loop,omitempty"`
	// IntervalNS is the length of Intervals' intervals (the last may be shorter).
	IntervalNS int64 `json:"interval_ns,omitempty"`
	// Intervals splits the measured load in consecutive intervals, by the time each request
	// ended: the throughput and p99 time series.
	Intervals []Interval `json:"intervals,omitempty"`
	// Capacity is set when the cell was a capacity search (run --rate FROM:TO:STEP): the steps
	// and the highest sustainable rate. The cell's other figures are those of the step at that
	// rate (or of the first step, when none was sustainable).
	Capacity *Capacity `json:"capacity,omitempty"`

	// Partial is true when the cell's load was cut short (Ctrl-C).
	Partial bool `json:"partial,omitempty"`
	// Error is set when the cell could not be measured at all (its backend did not start).
	Error string `json:"error,omitempty"`
}

// OpenLoop is what an open-loop cell measured beyond a closed-loop one.
type OpenLoop struct {
	// Scheduled is the number of requests due in the measured phase: sent, or unsent.
	Scheduled int64 `json:"scheduled"`
	// Late counts requests sent more than loadgen.LateThreshold (1 ms) after their intended
	// start; Unsent those never sent (every allowed connection was busy): Unsent > 0 means the
	// target rate was not offered.
	Late   int64 `json:"late"`
	Unsent int64 `json:"unsent"`
	// PeakConnections is how many connections the schedule needed at most: the sum of each
	// event-loop thread's own peak, so an upper bound when there are several threads.
	PeakConnections int `json:"peak_connections"`
	// UncorrectedLatencyNS summarises UncorrectedHistogram: latency from each request's actual
	// send, what a closed-loop tool reports; Cell.LatencyNS runs from the intended start.
	UncorrectedLatencyNS Latency `json:"uncorrected_latency_ns"`
	UncorrectedHistogram string  `json:"uncorrected_histogram"`
	// ScheduleLagNS summarises how late requests were sent after their intended start.
	ScheduleLagNS Latency `json:"schedule_lag_ns"`
}

// Interval is one interval of a cell's load.
type Interval struct {
	StartNS       int64   `json:"start_ns"` // from the start of the measured load
	DurationNS    int64   `json:"duration_ns"`
	Requests      int64   `json:"requests"` // that ended in the interval
	Errors        int64   `json:"errors"`
	ThroughputRPS float64 `json:"throughput_rps"`
	P50NS         int64   `json:"p50_ns"`
	P99NS         int64   `json:"p99_ns"`
	MaxNS         int64   `json:"max_ns"`
}

// Capacity is the outcome of a capacity search: open-loop steps at rising rates until one is
// not sustainable. The cell's Resources cover the whole search, every step.
type Capacity struct {
	// MaxSustainableRPS is the highest rate that was sustainable; 0 when the first was not.
	MaxSustainableRPS float64 `json:"max_sustainable_rps"`
	// Bound is what the first unsustainable rate crossed: "unsent", "error_rate",
	// "throughput", "slo_p99", "cancelled", or "" when every rate up to the last passed.
	Bound string `json:"bound"`
	// The search's parameters.
	FromRPS      float64        `json:"from_rps"`
	ToRPS        float64        `json:"to_rps"`
	StepRPS      float64        `json:"step_rps,omitempty"`
	Factor       float64        `json:"factor,omitempty"` // rates rose geometrically
	StepNS       int64          `json:"step_ns"`
	SLOP99NS     int64          `json:"slo_p99_ns,omitempty"`
	Attempts     int            `json:"attempts"` // failures in a row that end the search
	MaxErrorRate float64        `json:"max_error_rate"`
	Steps        []CapacityStep `json:"steps"`
}

// CapacityStep is one rate tried.
type CapacityStep struct {
	RateRPS     float64 `json:"rate_rps"`
	AchievedRPS float64 `json:"achieved_rps"`
	P99NS       int64   `json:"p99_ns"` // corrected
	ErrorRate   float64 `json:"error_rate"`
	Unsent      int64   `json:"unsent"`
	OK          bool    `json:"ok"`
	Reason      string  `json:"reason,omitempty"` // the bounds crossed, when not OK
}

// Latency is a summary of a latency histogram, in nanoseconds.
type Latency struct {
	P50  int64   `json:"p50"`
	P90  int64   `json:"p90"`
	P99  int64   `json:"p99"`
	P999 int64   `json:"p999"`
	Max  int64   `json:"max"`
	Mean float64 `json:"mean"`
}

// Resources is what the backend and the load generator consumed during the measured load.
type Resources struct {
	// ServerCPUNS is user+system CPU of the backend's long-lived processes (server, workers).
	ServerCPUNS int64 `json:"server_cpu_ns"`
	// ChildrenCPUNS is user+system CPU of the reaped short-lived children (CGI programs).
	ChildrenCPUNS int64 `json:"children_cpu_ns"`
	// LoadgenCPUNS is user+system CPU of the load generator.
	LoadgenCPUNS int64 `json:"loadgen_cpu_ns"`
	// CPUPerRequestNS is (server + children) CPU divided by requests.
	CPUPerRequestNS float64 `json:"cpu_per_request_ns"`
	// PeakRSSBytes and MeanRSSBytes cover the backend's whole process tree, sampled.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	MeanRSSBytes int64 `json:"mean_rss_bytes"`
	PeakPSSBytes int64 `json:"peak_pss_bytes,omitempty"`
	MeanPSSBytes int64 `json:"mean_pss_bytes,omitempty"`
	// ChildPeakRSSBytes is the largest RSS of one process below the server seen in the samples:
	// a worker, or a CGI child that lived through a sample (a lower bound for children that live
	// less than SampleInterval). It is not taken from wait4's ru_maxrss: after Go's vfork-style
	// clone and exec, the kernel reports the parent's peak there (TestChildMaxRSSAfterVfork).
	ChildPeakRSSBytes int64 `json:"child_peak_rss_bytes,omitempty"`
	Samples           int   `json:"samples"`
}
