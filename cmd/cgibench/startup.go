package main

import (
	"context"
	"io"
	"time"

	"github.com/spf13/pflag"

	"github.com/cgibench/cgibench/bench"
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
			return measureInto(ctx, out, quiet, &c, stdout, stderr, func() (*bench.Results, error) {
				return bench.Startups(ctx, c, runs)
			})
		}
	},
}
