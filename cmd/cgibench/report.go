package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/cgibench/cgibench/reports"
)

var reportCmd = &command{
	name:    "report",
	summary: "Re-render the table, CSV, Markdown, HTML and plots from a saved results.json.",
	usage:   "RESULTS.json",
	minArgs: 1,
	maxArgs: 1,
	example: "cgibench report cgibench-results/results.json --out report",
	setup: func(fs *pflag.FlagSet) runFunc {
		var out string
		fs.StringVar(&out, "out", "", "folder for the reports (default: the folder of RESULTS.json)")
		return func(ctx context.Context, stdout, stderr io.Writer, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return fmt.Errorf("report: %w", err)
			}
			defer f.Close()
			res, err := reports.ReadJSON(f)
			if err != nil {
				return fmt.Errorf("report: %s: %w", args[0], err)
			}
			if out == "" {
				out = filepath.Dir(args[0])
			}
			if err := printSummary(stdout, res); err != nil {
				return err
			}
			if err := reports.WriteAll(out, res); err != nil {
				return fmt.Errorf("report: %w", err)
			}
			fmt.Fprintf(stdout, "\nreport: %s\n", filepath.Join(out, reports.FileHTML))
			return nil
		}
	},
}
