package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/spf13/pflag"

	"github.com/cgibench/cgibench/bench"
)

var versionCmd = &command{
	name:    "version",
	summary: "Print the version.",
	example: "cgibench version",
	setup: func(*pflag.FlagSet) runFunc {
		return func(_ context.Context, stdout, _ io.Writer, _ []string) error {
			_, err := fmt.Fprintf(stdout, "cgibench %s (%s %s/%s)\n", bench.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return err
		}
	},
}
