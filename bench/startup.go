package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"time"

	"github.com/cgibench/cgibench/scripts"
	"github.com/cgibench/cgibench/strategies"
	"github.com/cgibench/cgibench/strategies/cgi"
)

// Startup is the start-up analysis of one program: where a CGI request's time goes.
//
// All figures are medians. The breakdown adds up to CGIP50NS:
//   - TransportNS: the inprocess strategy's median at c=1, an HTTP round trip to a server whose
//     app costs next to nothing: what every strategy pays.
//   - ProcessStartNS: with a persistent variant of the same app (fastcgi, embedded), the CGI
//     median minus the persistent one: what only starting a process adds. Without one, the bare
//     start (which also holds the app's work on an empty request, so it is an upper bound).
//   - AppWorkNS: the rest, the app's own work on the request (never below zero).
type Startup struct {
	Program string `json:"program"`
	// BareStartNS is the median of spawn, exec and exit of the program on an empty GET, timed
	// from before the fork to the reaped exit, over BareRuns runs.
	BareStartNS int64 `json:"bare_start_ns"`
	BareRuns    int   `json:"bare_runs"`
	// CGIP50NS is the median latency of a GET through the cgi strategy at c=1.
	CGIP50NS int64 `json:"cgi_p50_ns"`
	// Persistent is the fastest strategy keeping the same app alive ("fastcgi", "embedded") and
	// PersistentP50NS its median at c=1; empty when the program has none.
	Persistent      string `json:"persistent,omitempty"`
	PersistentP50NS int64  `json:"persistent_p50_ns,omitempty"`
	// StartupShare is ProcessStartNS / CGIP50NS: the part of a CGI request spent starting.
	StartupShare float64 `json:"startup_share"`

	ProcessStartNS int64 `json:"process_start_ns"`
	AppWorkNS      int64 `json:"app_work_ns"`
	TransportNS    int64 `json:"transport_ns"`
}

// DefaultBareRuns is how many bare starts Startups times per program.
const DefaultBareRuns = 200

// bareBudget bounds the bare starts of one program (slow interpreters get fewer runs).
const bareBudget = 5 * time.Second

type variant struct{ strategy, program string }

// persistentFor lists the persistent variants of a CGI program's app.
func persistentFor(program string) []variant {
	name := program
	if program == "c-static" {
		name = "c" // the same source, built for FastCGI
	}
	var out []variant
	if slices.Contains(scripts.Names(scripts.FastCGI), name) {
		out = append(out, variant{"fastcgi", name})
	}
	if slices.Contains(scripts.Names(scripts.Embedded), name) {
		out = append(out, variant{"embedded", name})
	}
	return out
}

// Startups measures, for every CGI program in cfg.Programs (default: every built-in one),
// bare process starts and GET latency at c=1 under cgi, under the persistent strategies that have
// the same app, and under inprocess; it returns those cells and the analysis in Results.Startup.
// cfg.Strategies, Workloads and Concurrency are ignored.
func Startups(ctx context.Context, cfg Config, bareRuns int) (*Results, error) {
	if bareRuns <= 0 {
		bareRuns = DefaultBareRuns
	}
	programs := cfg.Programs
	if len(programs) == 0 {
		programs = scripts.Names(scripts.CGI)
	}
	cat := &scripts.Catalog{CacheDir: cfg.CacheDir, Log: cfg.Log}
	cells := cfg
	cells.Strategies = StrategyNames()
	cells.Workloads = []string{"get"}
	cells.Concurrency = []int{1}
	cells.Programs = nil
	cells.onlyPairs = map[string]bool{"inprocess/" + InprocessProgram: true}
	for _, p := range programs {
		if IsUserProgram(p) {
			return nil, fmt.Errorf("startup: %q: give built-in program names; for your own program use 'cgibench run --concurrency 1'", p)
		}
		cells.onlyPairs["cgi/"+p] = true
		for _, v := range persistentFor(p) {
			cells.onlyPairs[v.strategy+"/"+v.program] = true
		}
		if !slices.Contains(cells.Programs, p) {
			cells.Programs = append(cells.Programs, p)
		}
		for _, v := range persistentFor(p) {
			if !slices.Contains(cells.Programs, v.program) {
				cells.Programs = append(cells.Programs, v.program)
			}
		}
	}
	cells.Programs = append(cells.Programs, InprocessProgram)
	res, err := Run(ctx, cells)
	if res == nil {
		return nil, err
	}
	p50 := map[string]int64{}
	for _, c := range res.Cells {
		if c.Error == "" && c.Requests > 0 {
			p50[c.Strategy+"/"+c.Program] = c.LatencyNS.P50
		}
	}
	transport := p50["inprocess/"+InprocessProgram]
	for _, name := range programs {
		if ctx.Err() != nil {
			break
		}
		cgiP50, ok := p50["cgi/"+name]
		if !ok {
			continue
		}
		prog, err := cat.Resolve(ctx, name, scripts.CGI)
		if err != nil {
			continue // already listed as skipped by Run
		}
		bare, runs, err := bareStarts(ctx, prog, bareRuns)
		if err != nil {
			return res, fmt.Errorf("startup: %s: %w", name, err)
		}
		s := Startup{Program: name, BareStartNS: bare, BareRuns: runs, CGIP50NS: cgiP50, TransportNS: transport}
		for _, v := range persistentFor(name) {
			if d, ok := p50[v.strategy+"/"+v.program]; ok && (s.Persistent == "" || d < s.PersistentP50NS) {
				s.Persistent, s.PersistentP50NS = v.strategy, d
			}
		}
		if s.Persistent != "" {
			s.ProcessStartNS = max(cgiP50-s.PersistentP50NS, 0)
		} else {
			s.ProcessStartNS = min(bare, cgiP50)
		}
		s.TransportNS = min(transport, cgiP50-s.ProcessStartNS)
		s.AppWorkNS = max(cgiP50-s.ProcessStartNS-s.TransportNS, 0)
		if cgiP50 > 0 {
			s.StartupShare = float64(s.ProcessStartNS) / float64(cgiP50)
		}
		res.Startup = append(res.Startup, s)
	}
	if err == nil {
		err = ctx.Err()
	}
	return res, err
}

// bareStarts times spawn→exec→exit of prog on an empty GET with no server around it. It returns
// the median in nanoseconds and the number of runs (fewer than n when bareBudget ran out).
func bareStarts(ctx context.Context, prog strategies.Program, n int) (int64, int, error) {
	devNull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, err
	}
	defer devNull.Close()
	env := append([]string{
		"GATEWAY_INTERFACE=CGI/1.1", "SERVER_PROTOCOL=HTTP/1.1", "REQUEST_METHOD=GET",
		"QUERY_STRING=", "SCRIPT_NAME=" + strategies.AppPath, "SERVER_NAME=127.0.0.1",
		"SERVER_PORT=80", "PATH=" + cgi.DefaultPath,
	}, prog.Env...)
	attr := &os.ProcAttr{Env: env, Files: []*os.File{devNull, devNull, devNull}, Dir: prog.Dir}
	var times []int64
	deadline := time.Now().Add(bareBudget)
	for i := 0; i < n && ctx.Err() == nil && (i < 5 || time.Now().Before(deadline)); i++ {
		t0 := time.Now()
		p, err := os.StartProcess(prog.Path, prog.Argv(), attr)
		if err != nil {
			return 0, 0, fmt.Errorf("starting %s: %w", prog.Path, err)
		}
		st, err := p.Wait()
		d := time.Since(t0)
		if err != nil {
			return 0, 0, err
		}
		if !st.Success() {
			return 0, 0, fmt.Errorf("%s on an empty GET: %v", prog.Path, st)
		}
		times = append(times, d.Nanoseconds())
	}
	if len(times) == 0 {
		return 0, 0, errors.Join(ctx.Err(), errors.New("no run completed"))
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[len(times)/2], len(times), nil
}
