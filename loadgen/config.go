package loadgen

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout is the per-request timeout when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// MaxConcurrency bounds Config.Concurrency. Each connection has a worker goroutine with its own
// latency histogram (about 150 KB, so that recording needs no lock): 1024 of them take 150 MB.
const MaxConcurrency = 1024

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
	// at most MaxConcurrency. (--concurrency)
	Concurrency int
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
	// DefaultTimeout. (--timeout)
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
