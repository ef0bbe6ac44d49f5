package main

import (
	"context"
	"io"
	"net/url"
	"time"

	"github.com/spf13/pflag"

	"github.com/cgibench/cgibench/bench"
	"github.com/cgibench/cgibench/loadgen"
	"github.com/cgibench/cgibench/reports"
)

var loadCmd = &command{
	name:    "load",
	summary: "Drive one workload at any http:// URL (your own server) and print the figures.",
	usage:   "URL",
	minArgs: 1,
	maxArgs: 1,
	example: "cgibench load http://127.0.0.1:8080/cgi-bin/app.cgi --workload get --concurrency 8 --duration 10s",
	setup: func(fs *pflag.FlagSet) runFunc {
		var c loadgen.Config
		var workload, jsonOut string
		var work int
		fs.StringVar(&workload, "workload", "get", "workload: get, urlencoded or multipart")
		fs.IntVar(&c.Concurrency, "concurrency", bench.DefaultConcurrency, "concurrent keep-alive connections")
		fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measured load")
		fs.Int64Var(&c.Requests, "requests", 0, "stop after this many requests, if before --duration (0: no bound)")
		fs.DurationVar(&c.Warmup, "warmup", time.Second, "load before measuring, not recorded")
		fs.DurationVar(&c.Timeout, "timeout", 30*time.Second, "per-request timeout")
		fs.IntVar(&work, "work", 0, "add work=N to every request")
		fs.BoolVar(&c.Verify, "verify", false, "check every response against the reference app (the target must implement scripts/README.md)")
		fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow a target that is not on this machine's loopback")
		fs.StringVar(&jsonOut, "json", "", "also write the results as JSON to this file")
		return func(ctx context.Context, stdout, stderr io.Writer, args []string) error {
			c.URL = args[0]
			wl, err := loadgen.NewWorkload(workload, work)
			if err != nil {
				return usagef("--workload: %v", err)
			}
			c.Workload = wl
			if err := c.Validate(); err != nil {
				return &usageError{err}
			}
			res := &bench.Results{Schema: bench.SchemaVersion, Tool: "cgibench " + bench.Version, StartedAt: time.Now().UTC()}
			out, runErr := loadgen.Run(ctx, c)
			if out == nil {
				return runErr
			}
			cell := bench.Cell{Strategy: "external", Program: hostOf(c.URL), Workload: workload, Concurrency: c.Concurrency, Work: work, Errors: map[string]int64{}}
			bench.FillCell(&cell, out)
			res.Cells = []bench.Cell{cell}
			res.Partial = out.Partial
			res.FinishedAt = time.Now().UTC()
			if jsonOut != "" {
				if err := saveResults(jsonOut, res); err != nil {
					return err
				}
			}
			if err := reports.WriteTable(stdout, res); err != nil {
				return err
			}
			if runErr != nil {
				return runErr
			}
			if out.Partial {
				return context.Canceled
			}
			return nil
		}
	},
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}
