package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/cgibench/cgibench/bench"
	"github.com/cgibench/cgibench/reports"
)

var startupCmd = &command{
	name:    "startup",
	summary: "Measure how much of a CGI request is process start-up, per language, and plot the breakdown.",
	example: "cgibench startup\ncgibench startup --programs c-static,python --runs 500 --duration 5s",
	setup: func(fs *pflag.FlagSet) runFunc {
		var c bench.Config
		var out string
		var runs int
		var quiet bool
		fs.StringSliceVar(&c.Programs, "programs", nil, "built-in CGI apps (default every one available)")
		fs.IntVar(&runs, "runs", bench.DefaultBareRuns, "bare process starts to time per program (fewer if a program is slow)")
		fs.DurationVar(&c.Duration, "duration", 2*time.Second, "measured load of each c=1 cell")
		fs.DurationVar(&c.Warmup, "warmup", 300*time.Millisecond, "load before measuring each cell, not recorded")
		fs.StringVar(&c.CacheDir, "cache", "", "folder for built apps (default $CGIBENCH_CACHE or the user cache folder)")
		fs.StringVar(&out, "out", "cgibench-startup", "folder for results.json, the reports and plots/startup.png")
		fs.BoolVar(&quiet, "quiet", false, "no progress line")
		return func(ctx context.Context, stdout, stderr io.Writer, _ []string) error {
			if runs < 1 {
				return usagef("--runs %d: give 1 or more", runs)
			}
			if err := c.Validate(); err != nil {
				return &usageError{err}
			}
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
			res, runErr := bench.Startups(ctx, c, runs)
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
			if err := reports.WriteAll(out, res); err != nil {
				fmt.Fprintf(stderr, "cgibench: writing reports: %v\n", err)
			}
			fmt.Fprintf(stdout, "\nresults: %s  report: %s\n", resultsPath, filepath.Join(out, reports.FileHTML))
			if runErr != nil {
				return runErr
			}
			return checkCells(res)
		}
	},
}
