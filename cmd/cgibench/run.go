package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/cgibench/cgibench/bench"
	"github.com/cgibench/cgibench/loadgen"
	"github.com/cgibench/cgibench/reports"
)

var runCmd = &command{
	name:    "run",
	summary: "Measure strategies × programs × workloads; print a table and write results.json (the main job).",
	example: "cgibench run\n" +
		"cgibench run --strategies cgi,fastcgi --programs python,./my.cgi --concurrency 1,8,32 --duration 10s --out results\n" +
		"cgibench run --strategies cgi,fastcgi --programs python --workloads get --rate 5:8000:x1.25 --step 2s --slo-p99 50ms",
	setup: func(fs *pflag.FlagSet) runFunc {
		var c bench.Config
		var out string
		var quiet bool
		var open openLoopFlags
		fs.StringSliceVar(&c.Strategies, "strategies", nil, "strategies to measure (default all: "+strings.Join(bench.StrategyNames(), ",")+")")
		fs.StringSliceVar(&c.Programs, "programs", nil, "built-in app names or paths of your own CGI/FastCGI programs (default every built-in app)")
		fs.StringSliceVar(&c.Workloads, "workloads", nil, "workloads (default all: "+strings.Join(loadgen.WorkloadNames, ",")+")")
		fs.IntSliceVar(&c.Concurrency, "concurrency", []int{bench.DefaultConcurrency}, "concurrent connections, one cell per value")
		fs.DurationVar(&c.Duration, "duration", bench.DefaultDuration, "measured load per cell")
		fs.Int64Var(&c.Requests, "requests", 0, "end a cell after this many requests, if before --duration (0: no bound)")
		fs.DurationVar(&c.Warmup, "warmup", bench.DefaultWarmup, "load before measuring, not recorded")
		fs.IntSliceVar(&c.Work, "work", []int{0}, "ask the app to burn N iterations of CPU per request (work=N), one cell per value: 0,10000,1000000 draws the crossover where start-up stops mattering")
		fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "per-request timeout in the backends")
		fs.IntVar(&c.Workers, "workers", 0, "FastCGI workers / embedded interpreter states (0: one per CPU)")
		fs.IntVar(&c.MaxRequests, "max-requests", 0, "recycle a FastCGI worker after this many requests (0: never)")
		fs.StringVar(&c.FastCGIAddr, "fastcgi-addr", "", "measure an already-running FastCGI server (unix:/path.sock or tcp:127.0.0.1:9000) as the fastcgi strategy")
		fs.BoolVar(&c.SharedSocket, "shared-socket", false, "fastcgi workers accept on one shared socket, as spawn-fcgi and php-fpm do (default: one socket per worker, which --max-requests needs)")
		fs.StringVar(&c.FastCGINetwork, "fastcgi-network", "unix", "the FastCGI workers' sockets: unix, or tcp (ports on 127.0.0.1)")
		fs.StringVar(&c.FastCGIFrontEnd, "fastcgi-front-end", "", bench.FrontEndHelp)
		open.register(fs)
		fs.StringVar(&c.HlogDir, "hlog", "", "write an HdrHistogram interval log (.hlog) per cell into this folder")
		fs.BoolVar(&c.Verify, "verify", false, "verify your own programs' bodies too (they must implement scripts/README.md; built-in apps are always verified)")
		fs.StringVar(&c.CacheDir, "cache", "", "folder for built apps (default $CGIBENCH_CACHE or the user cache folder)")
		fs.StringVar(&out, "out", "cgibench-results", "folder for results.json, the reports (table, CSV, Markdown, HTML, plots) and backend.log")
		fs.BoolVar(&quiet, "quiet", false, "no progress line")
		return func(ctx context.Context, stdout, stderr io.Writer, _ []string) error {
			var err error
			if c.Rate, c.Search, err = open.parse(); err != nil {
				return err
			}
			c.MaxConnections, c.Threads, c.Interval = open.maxConns, open.threads, open.interval
			if err := c.Validate(); err != nil {
				return &usageError{err}
			}
			return measureInto(ctx, out, quiet, &c, stdout, stderr, func() (*bench.Results, error) {
				return bench.Run(ctx, c)
			})
		}
	},
}

// measureInto runs measure with c set up to save into the folder out after every cell (with
// backend.log beside), then prints the summary, writes every report and checks the cells. An
// interrupted run still prints and writes what it measured.
func measureInto(ctx context.Context, out string, quiet bool, c *bench.Config, stdout, stderr io.Writer, measure func() (*bench.Results, error)) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("creating --out folder: %w", err)
	}
	logf, err := os.Create(filepath.Join(out, "backend.log"))
	if err != nil {
		return fmt.Errorf("creating backend log: %w", err)
	}
	defer logf.Close()
	c.Log = logf
	resultsPath := filepath.Join(out, reports.FileJSON)
	c.OnCell = func(r *bench.Results) error { return saveResults(resultsPath, r) }
	prog := newProgress(stdout, quiet)
	c.OnEvent = prog.event

	res, runErr := measure()
	prog.clear()
	if res == nil {
		return runErr
	}
	if runErr != nil {
		res.Partial = true
	}
	if err := saveResults(resultsPath, res); err != nil {
		return err
	}
	if err := printSummary(stdout, res); err != nil {
		return err
	}
	// The reports come after the results are safe; a failed plot does not lose them.
	if err := reports.WriteAll(out, res); err != nil {
		fmt.Fprintf(stderr, "cgibench: writing reports: %v\n", err)
	}
	fmt.Fprintf(stdout, "\nresults: %s  report: %s  backend log: %s\n",
		resultsPath, filepath.Join(out, reports.FileHTML), logf.Name())
	if runErr != nil {
		return runErr
	}
	return checkCells(res)
}

// printSummary prints the table and the conclusions the data supports.
func printSummary(w io.Writer, res *bench.Results) error {
	if err := reports.WriteTable(w, res); err != nil {
		return err
	}
	if cs := reports.Conclusions(res); len(cs) > 0 {
		fmt.Fprintln(w)
		for _, c := range cs {
			fmt.Fprintln(w, "- "+c)
		}
	}
	return nil
}

// checkCells fails the run when a cell could not be measured or a response did not match the
// reference: the figures would not mean what they say. Other errors (timeouts under overload)
// are results, shown in the table.
func checkCells(res *bench.Results) error {
	var failed, mismatched []string
	for _, c := range res.Cells {
		id := c.Strategy + "/" + c.Program + "/" + c.Workload
		if c.Error != "" {
			failed = append(failed, id+": "+c.Error)
		}
		if c.Errors[loadgen.ClassMismatch] > 0 {
			mismatched = append(mismatched, fmt.Sprintf("%s (%d)", id, c.Errors[loadgen.ClassMismatch]))
		}
	}
	var errs []error
	if len(failed) > 0 {
		errs = append(errs, fmt.Errorf("%d cell(s) could not be measured: %s", len(failed), strings.Join(failed, "; ")))
	}
	if len(mismatched) > 0 {
		errs = append(errs, fmt.Errorf("responses differed from the reference app in %s: see backend.log", strings.Join(mismatched, ", ")))
	}
	return errors.Join(errs...)
}

// saveResults writes results.json atomically, so an interrupted run never leaves half a file.
func saveResults(path string, r *bench.Results) error {
	if err := reports.SaveJSON(path, r); err != nil {
		return fmt.Errorf("saving results: %w", err)
	}
	return nil
}

// progress draws one line on a terminal, and nothing otherwise.
type progress struct {
	w     io.Writer
	on    bool
	start time.Time
}

func newProgress(w io.Writer, quiet bool) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, on: !quiet && ok && term.IsTerminal(int(f.Fd())), start: time.Now()}
}

func (p *progress) event(e bench.Event) {
	if !p.on {
		return
	}
	width := 30
	done := width * (e.Index - 1) / max(e.Total, 1)
	bar := strings.Repeat("=", done) + strings.Repeat(" ", width-done)
	fmt.Fprintf(p.w, "\r\033[K[%s] %d/%d %-34s %-7s elapsed %s, ETA %s",
		bar, e.Index, e.Total, e.Cell, e.Phase, time.Since(p.start).Round(time.Second), e.ETA.Round(time.Second))
}

func (p *progress) clear() {
	if p.on {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
