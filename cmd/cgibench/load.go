package main

import (
	"context"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/cgibench/cgibench/bench"
	"github.com/cgibench/cgibench/loadgen"
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
		var workload, jsonOut, hlogOut string
		var work int
		var open openLoopFlags
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
		open.register(fs)
		fs.StringVar(&hlogOut, "hlog", "", "write an HdrHistogram interval log (.hlog) to this file (a capacity search: one per step, FILE-stepNN-rRATE.hlog)")
		return func(ctx context.Context, stdout, stderr io.Writer, args []string) error {
			c.URL = args[0]
			wl, err := loadgen.NewWorkload(workload, work)
			if err != nil {
				return usagef("--workload: %v", err)
			}
			c.Workload = wl
			search, err := open.parseInto(&c)
			if err != nil {
				return err
			}
			if search != nil {
				c.Rate = search.From // checked as the first step will run
			}
			if err := c.Validate(); err != nil {
				return &usageError{err}
			}
			res := &bench.Results{Schema: bench.SchemaVersion, Tool: "cgibench " + bench.Version, StartedAt: time.Now().UTC()}
			cell := bench.Cell{Strategy: "external", Program: hostOf(c.URL), Workload: workload, Concurrency: c.Concurrency,
				RateRPS: c.Rate, Work: work, Errors: map[string]int64{}}
			logs, err := bench.LoadCell(ctx, &cell, c, search) // logs: for --hlog
			if err != nil {
				return err
			}
			res.Cells = []bench.Cell{cell}
			res.Partial = cell.Partial
			res.FinishedAt = time.Now().UTC()
			if jsonOut != "" {
				if err := saveResults(jsonOut, res); err != nil {
					return err
				}
			}
			if hlogOut != "" {
				ext := filepath.Ext(hlogOut)
				stem := strings.TrimSuffix(hlogOut, ext)
				if ext == "" && search != nil {
					ext = ".hlog"
				}
				if err := bench.WriteHlogs(stem, ext, logs, search != nil); err != nil {
					return err
				}
			}
			if err := printSummary(stdout, res); err != nil {
				return err
			}
			if res.Partial {
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
