package loadgen

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout is the per-request timeout when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// MaxConcurrency bounds Config.Concurrency and Config.MaxConnections. Each connection has a
// 32 KiB read buffer: 1024 of them take 32 MiB.
const MaxConcurrency = 1024

// MaxThreads bounds Config.Threads.
const MaxThreads = 256

// MaxRate bounds Config.Rate, in requests per second.
const MaxRate = 10_000_000

// DefaultInterval is the length of the intervals of Result.Intervals when Config.Interval is zero.
const DefaultInterval = time.Second

// MinInterval bounds Config.Interval from below: every interval keeps a histogram.
const MinInterval = 10 * time.Millisecond

// LateThreshold is how far behind its intended start time a request of an open-loop run may be
// sent before it counts in Result.Late.
const LateThreshold = time.Millisecond

// SendGrace is how long after the end of an open-loop schedule the requests due before it may
// still be sent (late) when connections free up; those still waiting then count in
// Result.Unsent. It keeps a hiccup of the machine at the very end from passing for a lack of
// connections.
const SendGrace = 100 * time.Millisecond

// ErrNotLoopback is wrapped by the error Validate and Run return when the URL names a host other
// than a loopback address and Config.AllowRemote is off.
var ErrNotLoopback = errors.New("loadgen: host is not a loopback address")

// Config describes one load run. The zero value of a field means its default; Validate reports
// what cannot be used. Each field is named after the command-line flag that sets it.
type Config struct {
	// URL is the server under test, http://host[:port][/path]. It carries no query: the workload
	// supplies it. Only loopback hosts (127.0.0.0/8, ::1, localhost) are accepted unless
	// AllowRemote is set. (--url)
	URL string
	// AllowRemote permits a non-loopback host. Off by default so that a typo cannot aim a load
	// test at somebody else's machine. (--allow-remote)
	AllowRemote bool
	// Workload is the set of requests sent in turn. (--workload, --work)
	Workload *Workload
	// Concurrency is the number of connections, each with one request in flight; default 1,
	// at most MaxConcurrency. In an open-loop run (Rate > 0) it is the number opened before
	// the start: more are opened while the schedule needs them, up to MaxConnections.
	// (--concurrency)
	Concurrency int
	// Rate, when positive, selects the open (fixed-rate) model: requests are sent on a
	// schedule of Rate per second in total, whether or not earlier ones have been answered,
	// and latency runs from each request's intended start (see Result). Zero selects the
	// closed loop. At most MaxRate. (--rate)
	Rate float64
	// MaxConnections bounds the connections an open-loop run may open to keep to its
	// schedule; default MaxConcurrency, at least Concurrency. When all are busy, due
	// requests wait and are sent late (Result.Late) or not at all (Result.Unsent).
	// (--max-connections)
	MaxConnections int
	// Threads is the number of event-loop threads that drive the connections (like wrk's
	// -t): default half the CPUs Go may use (GOMAXPROCS/2, at least 1), at most the number of
	// connections in a closed loop, and at most MaxThreads. (--threads)
	Threads int
	// Interval is the length of the intervals of Result.Intervals; default DefaultInterval,
	// at least MinInterval. (--interval)
	Interval time.Duration
	// Duration bounds the measured load in time. At least one of Duration and Requests must be
	// set; with both the run ends at whichever is reached first. Requests in flight when the
	// time is up are completed and counted. (--duration)
	Duration time.Duration
	// Requests bounds the measured load in requests: exactly that many are sent and counted
	// (unless the run is cancelled or Duration ends it first). (--requests)
	Requests int64
	// Warmup is load sent before the measured phase, left out of the Result. (--warmup)
	Warmup time.Duration
	// Timeout bounds each request, from connecting to the end of the response; default
	// DefaultTimeout. It is enforced to within Timeout/20 (at least 1 ms, at most 100 ms).
	// (--timeout)
	Timeout time.Duration
	// Verify compares each response's status and body with the workload's expected ones and
	// counts differences as ClassMismatch. (--verify)
	Verify bool
}

// Validate reports every problem of the configuration at once, each naming the flag to fix.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("loadgen: "+format, args...))
	}
	if _, err := parseTarget(c.URL, c.AllowRemote); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.Workload == nil:
		bad("--workload is required (one of %s)", strings.Join(WorkloadNames, ", "))
	case len(c.Workload.Requests) == 0:
		bad("--workload %q has no requests", c.Workload.Name)
	}
	if c.Concurrency < 0 || c.Concurrency > MaxConcurrency {
		bad("--concurrency must be 1..%d, got %d", MaxConcurrency, c.Concurrency)
	}
	if c.Duration < 0 {
		bad("--duration must not be negative, got %s", c.Duration)
	}
	if c.Requests < 0 {
		bad("--requests must not be negative, got %d", c.Requests)
	}
	if c.Duration == 0 && c.Requests == 0 {
		bad("set --duration or --requests (or both): the run needs an end")
	}
	if c.Warmup < 0 {
		bad("--warmup must not be negative, got %s", c.Warmup)
	}
	if c.Timeout < 0 {
		bad("--timeout must not be negative, got %s", c.Timeout)
	}
	if c.Rate < 0 || c.Rate > MaxRate || math.IsNaN(c.Rate) {
		bad("--rate must be 0 (closed loop) or up to %d requests per second, got %v", MaxRate, c.Rate)
	}
	if c.MaxConnections < 0 || c.MaxConnections > MaxConcurrency {
		bad("--max-connections must be 1..%d (0: %d), got %d", MaxConcurrency, MaxConcurrency, c.MaxConnections)
	} else if c.Rate > 0 && c.MaxConnections > 0 && c.Concurrency > c.MaxConnections {
		bad("--concurrency (%d) must not exceed --max-connections (%d)", c.Concurrency, c.MaxConnections)
	}
	if c.Threads < 0 || c.Threads > MaxThreads {
		bad("--threads must be 1..%d, got %d", MaxThreads, c.Threads)
	}
	if c.Interval < 0 || c.Interval > 0 && c.Interval < MinInterval {
		bad("--interval must be at least %s, got %s", MinInterval, c.Interval)
	}
	return errors.Join(errs...)
}

// withDefaults resolves zero fields to their defaults.
func (c Config) withDefaults() Config {
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = MaxConcurrency
	}
	if c.Rate == 0 {
		c.MaxConnections = c.Concurrency
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Threads == 0 {
		c.Threads = max(1, runtime.GOMAXPROCS(0)/2)
	}
	c.Threads = min(c.Threads, c.MaxConnections)
	return c
}

// target is where requests go: parsed and checked once.
type target struct {
	addr string // host:port to dial
	host string // Host header
	path string // escaped path of the request target, never empty
}

// parseTarget checks a --url. It never resolves or dials anything: a name other than localhost
// is refused unless allowRemote, before any traffic can be sent.
func parseTarget(raw string, allowRemote bool) (*target, error) {
	if raw == "" {
		return nil, errors.New("loadgen: --url is required (http://127.0.0.1:PORT/path)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("loadgen: --url: %w", err)
	}
	switch {
	case u.Scheme != "http":
		return nil, fmt.Errorf("loadgen: --url %q: scheme must be http (plain HTTP/1.1)", raw)
	case u.Opaque != "" || u.Host == "":
		return nil, fmt.Errorf("loadgen: --url %q: no host (want http://host:port/path)", raw)
	case u.User != nil:
		return nil, fmt.Errorf("loadgen: --url %q: user info is not supported", raw)
	case u.RawQuery != "" || u.ForceQuery:
		return nil, fmt.Errorf("loadgen: --url %q: must not carry a query, the workload supplies it", raw)
	case u.Fragment != "":
		return nil, fmt.Errorf("loadgen: --url %q: must not carry a fragment", raw)
	}
	hostname, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
	} else if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("loadgen: --url %q: bad port %q", raw, port)
	}
	if !allowRemote && !isLoopback(hostname) {
		return nil, fmt.Errorf("%w: --url host %q (pass --allow-remote to load another machine)",
			ErrNotLoopback, hostname)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	return &target{addr: net.JoinHostPort(hostname, port), host: u.Host, path: path}, nil
}

// isLoopback reports whether host is localhost or a loopback IP literal. Other names are not
// looked up: a resolver could answer anything.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}
